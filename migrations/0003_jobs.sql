-- First cut of the job queue (the job-engine issue owns its final design; later changes come
-- as new numbered files, never as edits to this one).

CREATE TABLE jobs (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT NOT NULL,
    queue            TEXT NOT NULL DEFAULT 'default',
    payload          JSONB NOT NULL DEFAULT '{}',
    state            TEXT NOT NULL DEFAULT 'available'
                     CHECK (state IN ('available', 'scheduled', 'running', 'retryable',
                                      'completed', 'discarded', 'cancelled')),
    priority         SMALLINT NOT NULL DEFAULT 0,
    attempt          INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     INTEGER NOT NULL DEFAULT 20 CHECK (max_attempts > 0),
    run_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    -- Bumped at every claim; the handler's fencing token.
    lease_epoch      BIGINT NOT NULL DEFAULT 0,
    unique_key       TEXT,
    -- [{"attempt": 1, "at": "...", "message": "...", "retryable": true}, ...]
    errors           JSONB NOT NULL DEFAULT '[]',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finalized_at     TIMESTAMPTZ
);

-- A live unique key names at most one job; finished jobs free the key.
CREATE UNIQUE INDEX jobs_unique_key_live ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');
-- Claims read only claimable rows, so completed history does not slow them down.
CREATE INDEX jobs_claimable ON jobs (queue, priority, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
-- Rescue scans only running rows by lease expiry.
CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'running';
-- Retention prunes finished rows by age.
CREATE INDEX jobs_finalized ON jobs (finalized_at) WHERE finalized_at IS NOT NULL;

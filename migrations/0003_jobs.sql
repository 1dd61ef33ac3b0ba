-- The job queue: a Postgres SKIP LOCKED worker farm (see jobs/README.md and the README's
-- "Job engine" section). Later changes come as new numbered files, never edits to this one.

CREATE TABLE jobs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    queue            TEXT NOT NULL DEFAULT 'default' CHECK (length(queue) BETWEEN 1 AND 100),
    payload          JSONB NOT NULL DEFAULT '{}',
    state            TEXT NOT NULL DEFAULT 'available'
                     CHECK (state IN ('available', 'scheduled', 'running', 'retryable',
                                      'completed', 'discarded', 'cancelled')),
    -- 0 runs first.
    priority         SMALLINT NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 9),
    -- Counted at claim time: attempt n is running or ran.
    attempt          INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     INTEGER NOT NULL DEFAULT 20 CHECK (max_attempts > 0),
    run_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempted_at     TIMESTAMPTZ,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    -- Bumped at every claim; handed to the handler as its fencing token. Every transition out
    -- of `running` names the epoch it expects, so a worker that lost its lease changes nothing.
    lease_epoch      BIGINT NOT NULL DEFAULT 0,
    unique_key       TEXT,
    -- [{"attempt": 1, "at": "…", "message": "…", "retryable": true}, …]
    errors           JSONB NOT NULL DEFAULT '[]',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finalized_at     TIMESTAMPTZ,
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);

-- A unique key names at most one job among the live and completed ones: a second enqueue
-- returns the first job, and a periodic tick that completed is not run again after a
-- scheduler failover. Discarded and cancelled jobs free their key; pruning frees it too.
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
    WHERE unique_key IS NOT NULL
      AND state IN ('available', 'scheduled', 'running', 'retryable', 'completed');
-- The claim reads only available rows, in claim order: its cost does not grow with history.
CREATE INDEX jobs_claim ON jobs (queue, priority, run_at, id) WHERE state = 'available';
-- Promotion of due scheduled and retryable jobs.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('scheduled', 'retryable');
-- Rescue of running jobs whose lease expired.
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state = 'running';
-- Retention and the ops CLI's listings of finished jobs.
CREATE INDEX jobs_finalized ON jobs (finalized_at) WHERE finalized_at IS NOT NULL;
CREATE INDEX jobs_kind_state ON jobs (kind, state);

-- Wake-up: one notification per inserting statement and queue (Postgres also folds identical
-- notifications within a transaction), only for jobs that can run now.
CREATE FUNCTION jobs_notify_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hybridhub_jobs', q.queue)
    FROM (SELECT DISTINCT queue FROM inserted_jobs WHERE state = 'available') AS q;
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_notify_inserted AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS inserted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify_inserted();

-- Live worker processes (heartbeat on database time), for rescue decisions and the ops CLI.
CREATE TABLE job_workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT[] NOT NULL,
    concurrency  INTEGER NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    stopping     BOOLEAN NOT NULL DEFAULT false
);

-- Paused queues are not claimed from (the ops CLI pauses and resumes them).
CREATE TABLE job_queues (
    name       TEXT PRIMARY KEY,
    paused_at  TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Leadership by an expiring lease row on database time (one row per role, e.g. "scheduler").
CREATE TABLE leader_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- The last time bucket each periodic schedule enqueued, so a new leader neither skips nor
-- doubles a tick.
CREATE TABLE periodic_cursors (
    name        TEXT PRIMARY KEY,
    last_bucket BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

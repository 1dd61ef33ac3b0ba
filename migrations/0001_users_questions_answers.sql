-- What the trading plan assumes already exists in the app's database: users keyed by their
-- Firebase uid, the questions the app shows, and the answers it sends back.

CREATE TABLE users (
    firebase_uid TEXT PRIMARY KEY CHECK (length(firebase_uid) BETWEEN 1 AND 128),
    display_name TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE questions (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    firebase_uid   TEXT NOT NULL REFERENCES users (firebase_uid) ON DELETE CASCADE,
    question_text  TEXT NOT NULL,
    -- swipe: a value in [-10, 10]; the app renders it as a swipe tile.
    question_type  TEXT NOT NULL DEFAULT 'swipe' CHECK (question_type IN ('swipe', 'numeric')),
    options        JSONB NOT NULL DEFAULT '{"min": -10, "max": 10}',
    source_tag     TEXT,            -- e.g. trading:rule:dip_confirm
    pipeline_key   TEXT,            -- e.g. trading
    pipeline_step  TEXT,            -- e.g. dip_confirm:await_confirm
    correct_answer NUMERIC,         -- the confirming answer (+10)
    metadata       JSONB NOT NULL DEFAULT '{}',
    status         TEXT NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'answered', 'expired', 'cancelled')),
    expires_at     TIMESTAMPTZ,
    delivered_at   TIMESTAMPTZ,
    answered_at    TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The app's "open questions" list and the per-user cap on open questions.
CREATE INDEX questions_open_by_user ON questions (firebase_uid, created_at) WHERE status = 'open';
-- Expiry sweeps look only at open questions.
CREATE INDEX questions_open_expiry ON questions (expires_at) WHERE status = 'open';
CREATE INDEX questions_pipeline ON questions (firebase_uid, pipeline_key, pipeline_step);

CREATE TABLE answers (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- One answer per question: answering twice is idempotent, never a second decision.
    question_id  UUID NOT NULL UNIQUE REFERENCES questions (id) ON DELETE CASCADE,
    firebase_uid TEXT NOT NULL REFERENCES users (firebase_uid) ON DELETE CASCADE,
    value        NUMERIC NOT NULL CHECK (value BETWEEN -10 AND 10),
    decision     TEXT NOT NULL CHECK (decision IN ('approve', 'skip', 'ambiguous')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX answers_by_user ON answers (firebase_uid, created_at);

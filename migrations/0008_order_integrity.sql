-- Order integrity (issue 14): the approved intent travels with the order, a farm-wide halt,
-- an operator's cancel of an unsent order. Additions only; earlier files are never edited.

-- The farm-wide halt: one row. Every stage that could lead to an order (evaluation, approval,
-- the submit just before its POST) reads it `FOR SHARE` in its transaction, so the halt's
-- UPDATE waits for the POSTs in flight and no stage starts one after the halt commits.
CREATE TABLE trading_halt (
    id         SMALLINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    halted     BOOLEAN NOT NULL DEFAULT false,
    reason     TEXT,
    set_by     TEXT,
    set_at     TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO trading_halt (id) VALUES (1);

-- Every halt and resume, for the audit trail (`hybridhub-ops trading status`).
CREATE TABLE trading_halt_events (
    id      BIGSERIAL PRIMARY KEY,
    halted  BOOLEAN NOT NULL,
    reason  TEXT,
    set_by  TEXT NOT NULL,
    at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE trade_orders
    -- The frozen intent the user approved (the question's `order` metadata), verbatim.
    ADD COLUMN intent              JSONB,
    ADD COLUMN time_in_force       TEXT NOT NULL DEFAULT 'day',
    -- An operator asked to cancel the order before it was sent (`hybridhub-ops orders cancel`).
    ADD COLUMN cancel_requested_at TIMESTAMPTZ,
    ADD COLUMN cancel_reason       TEXT;

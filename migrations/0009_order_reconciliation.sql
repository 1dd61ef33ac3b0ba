-- Order reconciliation ("the books always equal the broker"): the periodic reconcile-orders job
-- lists Alpaca's orders since a watermark, records on trade_orders what Alpaca says where the
-- books lack it or have it wrong (Alpaca is the truth), and reports what it cannot repair.
-- Additions only; self-contained (it does not depend on 0008).

-- One row per run: scheduled (requested_by NULL) or asked for by an operator.
CREATE TABLE order_reconciliation_runs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The reconcile-orders job that ran it (no foreign key: finished jobs are pruned).
    job_id          BIGINT,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- false: a dry run (reported, nothing repaired, the watermark left alone).
    apply           BOOLEAN NOT NULL,
    requested_by    TEXT,
    -- The broker's time line (its submitted_at): where the listing started, and the
    -- watermark after the run (NULL when it did not move).
    listed_after    TIMESTAMPTZ NOT NULL,
    watermark       TIMESTAMPTZ,
    -- Counts: every order listed, those with our client_order_id prefix, the book rows read,
    -- those that agree, those deferred (the book ahead of the listing), repairs committed,
    -- findings; truncated: more orders at one instant than a page holds.
    broker_orders   INTEGER NOT NULL,
    our_orders      INTEGER NOT NULL,
    book_orders     INTEGER NOT NULL,
    agreed          INTEGER NOT NULL,
    deferred        INTEGER NOT NULL,
    repaired        INTEGER NOT NULL,
    findings_count  INTEGER NOT NULL,
    truncated       BOOLEAN NOT NULL DEFAULT false,
    -- [{kind, client_order_id, trade_order_id, alpaca_order_id, book_status, broker_status,
    --   differences: [{field, book, broker}], detail, repaired}]
    findings        JSONB NOT NULL DEFAULT '[]',
    CHECK (finished_at >= started_at)
);
-- The ops CLI waits for its job's run; retention and "latest run" read by time.
CREATE INDEX order_reconciliation_runs_job ON order_reconciliation_runs (job_id);
CREATE INDEX order_reconciliation_runs_finished ON order_reconciliation_runs (finished_at);

-- The watermark: every order of ours submitted at or before it was terminal at the broker and
-- equal in the books when a run passed it. One row per broker account ('alpaca').
CREATE TABLE order_reconciliation_state (
    name        TEXT PRIMARY KEY,
    watermark   TIMESTAMPTZ NOT NULL,
    last_run_id BIGINT REFERENCES order_reconciliation_runs (id) ON DELETE SET NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A run reads the book rows on the broker's time line after the watermark: their recorded
-- submitted_at, else the approval's decided_at.
CREATE INDEX trade_orders_reconcile_at ON trade_orders ((coalesce(submitted_at, decided_at)));

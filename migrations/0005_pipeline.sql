-- The trading pipeline (issue 6): what the order lifecycle and the answer service need beyond
-- plan §5. Additions only; earlier files are never edited.

-- trade_orders.status: 'pending_submit' (approved, submit-order enqueued), then Alpaca's own
-- status ('accepted', 'new', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected', …),
-- or 'blocked' (a guardrail refused it at submit; Alpaca never saw it) or 'failed' (Alpaca
-- refused it with a 4xx; no order exists there).
ALTER TABLE trade_orders
    -- The trading clock's instant of the approval: guardrail windows count orders by it (the
    -- wall clock in production, the replayed instant in a replay).
    ADD COLUMN decided_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The question's price: bounds the notional of a qty order, and explains the order.
    ADD COLUMN reference_price  NUMERIC,
    ADD COLUMN filled_qty       NUMERIC,
    ADD COLUMN filled_avg_price NUMERIC,
    -- Why an order is blocked, failed or rejected, in words for the user and the operator.
    ADD COLUMN status_reason    TEXT,
    ADD COLUMN updated_at       TIMESTAMPTZ NOT NULL DEFAULT now();

-- Guardrail windows read one user's orders by decision time.
CREATE INDEX trade_orders_user_decided ON trade_orders (firebase_uid, decided_at DESC);
-- The scheduler's safety net re-polls orders that are not terminal.
CREATE INDEX trade_orders_open ON trade_orders (updated_at)
    WHERE status NOT IN ('filled', 'canceled', 'expired', 'rejected', 'replaced', 'blocked', 'failed');

-- Answers: what the answer service decided and did, so that answering twice returns the same.
ALTER TABLE answers
    ADD COLUMN outcome TEXT,            -- ordered, skipped, follow_up, asked_again, refused, acknowledged
    ADD COLUMN detail  TEXT,            -- the words shown to the user
    ADD COLUMN follow_up_question_id UUID REFERENCES questions (id),
    ADD COLUMN trade_order_id UUID REFERENCES trade_orders (id);

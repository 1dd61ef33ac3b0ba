-- Issue 9: one Alpaca rate budget for the whole farm. A token bucket per (API, key) on
-- database time: every worker takes a token before an Alpaca call, so N workers together
-- stay under the per-key limit; a 429 empties the bucket until its Retry-After.
CREATE TABLE rate_budgets (
    name              TEXT PRIMARY KEY,
    capacity          DOUBLE PRECISION NOT NULL CHECK (capacity >= 1),
    refill_per_second DOUBLE PRECISION NOT NULL CHECK (refill_per_second > 0),
    tokens            DOUBLE PRECISION NOT NULL,
    refilled_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    blocked_until     TIMESTAMPTZ,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Each user's own book (issue 16): one Alpaca account trades for every user, and these tables
-- keep each user's share of it apart. Written only from the broker's fills as recorded on
-- trade_orders, in the same transaction that records them; rebuildable from trade_orders
-- (`hybridhub-ops books rebuild`). Additions only; earlier files are never edited.

-- One row per (user, symbol) the user ever had a fill in; a flat position keeps its realized P&L.
-- Locked (FOR UPDATE) while a fill in it is recorded: the lock that serializes the book.
CREATE TABLE user_positions (
    firebase_uid       TEXT NOT NULL REFERENCES users (firebase_uid) ON DELETE CASCADE,
    symbol             TEXT NOT NULL,
    -- Shares held (average-cost method); negative only if the broker filled a sell beyond the
    -- book (a finding the reconciler reports; no CHECK, so such a fill is still recorded).
    qty                NUMERIC NOT NULL DEFAULT 0,
    cost_basis         NUMERIC NOT NULL DEFAULT 0,
    realized_pnl       NUMERIC NOT NULL DEFAULT 0,
    -- When the position now held opened; NULL when flat.
    opened_at          TIMESTAMPTZ,
    -- The highest price seen since it opened (fills, and the prices the trailing stop saw).
    high_water_price   NUMERIC,
    high_water_at      TIMESTAMPTZ,
    orders             INTEGER NOT NULL DEFAULT 0,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (firebase_uid, symbol)
);
-- The account's sum per symbol (reconcile-orders) reads the open positions.
CREATE INDEX user_positions_open ON user_positions (symbol) WHERE qty <> 0;

-- The book's ledger: one row per order with a fill, as the book applied it (its cumulative
-- quantity and average price, what it realized, when it last filled). Written only under its
-- position's lock, never by locking other trade_orders rows (two recorders would deadlock).
CREATE TABLE book_orders (
    trade_order_id UUID PRIMARY KEY REFERENCES trade_orders (id) ON DELETE CASCADE,
    firebase_uid   TEXT NOT NULL,
    symbol         TEXT NOT NULL,
    side           TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    qty            NUMERIC NOT NULL,
    avg_price      NUMERIC NOT NULL,
    realized_pnl   NUMERIC NOT NULL DEFAULT 0,
    filled_at      TIMESTAMPTZ NOT NULL
);
-- Today's P&L reads one user's fills since the start of the US/Eastern day.
CREATE INDEX book_orders_user_filled ON book_orders (firebase_uid, filled_at);

-- When the order last filled, by the broker's clock (filled_at, else its updated_at): the book
-- dates a fill by it (today's P&L, when a position opened).
ALTER TABLE trade_orders ADD COLUMN last_fill_at TIMESTAMPTZ;
-- The book replays one user's orders in one symbol.
CREATE INDEX trade_orders_user_symbol_filled ON trade_orders (firebase_uid, symbol) WHERE filled_qty > 0;

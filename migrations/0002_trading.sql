-- Plan §5 ("004_trading.sql" in the Dart plan): market data, configs, per-user trading state
-- and the order audit trail. Additions to the plan are marked.

CREATE TABLE market_data_snapshots (
    id          BIGSERIAL PRIMARY KEY,
    symbol      TEXT NOT NULL,
    asset_class TEXT NOT NULL DEFAULT 'us_equity',
    feed        TEXT NOT NULL DEFAULT 'iex',
    metric      TEXT NOT NULL CHECK (metric IN ('last_trade', 'daily_bar', 'prev_close')),
    price       NUMERIC,
    volume      NUMERIC,
    as_of       TIMESTAMPTZ NOT NULL,
    raw         JSONB,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX market_data_snapshots_symbol_as_of_idx ON market_data_snapshots (symbol, as_of DESC);
-- Addition: ingest is idempotent per (symbol, feed, metric, as_of); this also serves
-- "latest row per (symbol, metric)".
CREATE UNIQUE INDEX market_data_snapshots_fact_idx
    ON market_data_snapshots (symbol, metric, feed, as_of DESC);

-- Addition (plan §5.1, phase 2): one row per (symbol, metric, feed), the newest.
CREATE VIEW market_data_latest AS
SELECT DISTINCT ON (symbol, metric, feed)
       id, symbol, asset_class, feed, metric, price, volume, as_of, raw, created_at
FROM market_data_snapshots
ORDER BY symbol, metric, feed, as_of DESC;

CREATE TABLE trading_config_templates (
    name       TEXT PRIMARY KEY,
    config     JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE user_trading_config (
    firebase_uid  TEXT PRIMARY KEY REFERENCES users (firebase_uid) ON DELETE CASCADE,
    template_name TEXT REFERENCES trading_config_templates (name),
    config        JSONB NOT NULL DEFAULT '{}',
    enabled       BOOLEAN NOT NULL DEFAULT false,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The scheduler lists enabled users on every tick.
CREATE INDEX user_trading_config_enabled ON user_trading_config (firebase_uid) WHERE enabled;

CREATE TABLE user_trading_state (
    firebase_uid   TEXT PRIMARY KEY REFERENCES users (firebase_uid) ON DELETE CASCADE,
    last_ingest_at TIMESTAMPTZ,
    last_eval_at   TIMESTAMPTZ,
    context        JSONB NOT NULL DEFAULT '{}',
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE trade_orders (
    id              UUID PRIMARY KEY,
    firebase_uid    TEXT NOT NULL REFERENCES users (firebase_uid) ON DELETE CASCADE,
    client_order_id TEXT NOT NULL UNIQUE CHECK (length(client_order_id) <= 48),
    alpaca_order_id TEXT,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type      TEXT NOT NULL,
    notional_usd    NUMERIC CHECK (notional_usd > 0),
    qty             NUMERIC CHECK (qty > 0),
    status          TEXT NOT NULL,
    question_id     UUID REFERENCES questions (id),
    rule_id         TEXT,
    submitted_at    TIMESTAMPTZ,
    filled_at       TIMESTAMPTZ,
    raw             JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Additions: an order is sized by exactly one of notional and qty; one order per question.
    CHECK ((notional_usd IS NULL) <> (qty IS NULL)),
    CONSTRAINT trade_orders_one_per_question UNIQUE (question_id)
);
-- Guardrail windows (orders per day, notional per 4 h) read a user's recent orders.
CREATE INDEX trade_orders_user_created ON trade_orders (firebase_uid, created_at DESC);

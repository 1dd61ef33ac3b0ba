-- Issue 9: the farm's one market-data WebSocket. Exactly one process holds it (leadership
-- 'alpaca-streams' in leader_leases); it reports here, on database time, which symbols it
-- streams and until when it vouches for them. The scheduler's tick polls by REST only the
-- symbols no healthy stream covers, so polling is the fallback whenever the stream is down.
CREATE TABLE market_streams (
    feed            TEXT PRIMARY KEY,
    holder          TEXT NOT NULL,
    connected_at    TIMESTAMPTZ NOT NULL,
    -- Moves forward while messages keep arriving; a silent or dead stream lapses by itself.
    healthy_until   TIMESTAMPTZ NOT NULL,
    symbols         TEXT[] NOT NULL DEFAULT '{}',
    last_message_at TIMESTAMPTZ,
    messages        BIGINT NOT NULL DEFAULT 0,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

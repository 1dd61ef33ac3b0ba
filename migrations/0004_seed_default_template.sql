-- Plan §14 phase 1: the dev template `default_paper_watchlist` (plan §4.2's example).
-- A test decodes every seeded template with the validator.
INSERT INTO trading_config_templates (name, config) VALUES ('default_paper_watchlist', $json$
{
  "version": 1,
  "enabled": true,
  "mode": "paper",
  "data_inputs": [
    {
      "id": "primary_watchlist",
      "source": "alpaca",
      "asset_class": "us_equity",
      "symbols": ["AAPL", "MSFT", "SPY"],
      "feed": "iex",
      "poll_interval_seconds": 60,
      "metrics": ["last_trade", "daily_bar", "prev_close"]
    }
  ],
  "rules": [
    {
      "id": "dip_confirm",
      "type": "price_below_pct_of_ref",
      "symbol": "SPY",
      "ref_metric": "prev_close",
      "threshold_pct": -1.5,
      "question_template": "SPY is down {{pct}}% vs yesterday. Swipe +10 to approve a small buy, -10 to skip.",
      "on_answer_match": { "action": "propose_order", "side": "buy", "notional_usd": 10 }
    }
  ],
  "guardrails": {
    "max_orders_per_day": 3,
    "max_notional_usd_per_4h": 100,
    "require_question_before_order": true,
    "symbols_blocklist": []
  }
}
$json$::jsonb)
ON CONFLICT (name) DO NOTHING;

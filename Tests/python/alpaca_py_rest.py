"""Drives the simulator's REST API with Alpaca's official SDK, alpaca-py, unchanged except for
the base URL. Run by AlpacaSimulatorTests.AlpacaPyTests: `python alpaca_py_rest.py BASE_URL`.
Exits non-zero (with the failing check) on the first mismatch."""
import sys
import uuid
from datetime import date, datetime, timezone

from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import (StockBarsRequest, StockLatestQuoteRequest, StockLatestTradeRequest,
                                  StockSnapshotRequest)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetCalendarRequest, GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

base = sys.argv[1]
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


trading = TradingClient("sim-key", "sim-secret", url_override=base)
data = StockHistoricalDataClient("sim-key", "sim-secret", url_override=base)
# The SDK retries 429/504 three times, 3 s apart; the simulator answers neither here.

account = trading.get_account()
check(account.status.value == "ACTIVE" and float(account.cash) == 100000.0, f"account {account}")

clock = trading.get_clock()
check(clock.is_open and clock.timestamp.isoformat().startswith("2011-03-16T09:31"), f"clock {clock}")

calendar = trading.get_calendar(GetCalendarRequest(start=date(2011, 3, 14), end=date(2011, 3, 16)))
check([str(day.date) for day in calendar] == ["2011-03-14", "2011-03-15", "2011-03-16"], f"calendar {calendar}")

asset = trading.get_asset("SPY")
check(asset.symbol == "SPY" and asset.fractionable and asset.tradable, f"asset {asset}")
try:
    trading.get_asset("NOPE")
    check(False, "unknown asset accepted")
except APIError as error:
    check(error.status_code == 404 and error.code == 40410000, f"unknown asset error {error}")

cid = f"sdk-{uuid.uuid4().hex[:12]}"
order = trading.submit_order(MarketOrderRequest(symbol="SPY", notional=10.5, side=OrderSide.BUY,
                                                time_in_force=TimeInForce.DAY, client_order_id=cid))
check(order.status == OrderStatus.FILLED and order.client_order_id == cid, f"market order {order}")
check(float(order.filled_avg_price) == 128.11 and float(order.notional) == 10.5, f"fill price {order.filled_avg_price}")
check(trading.get_order_by_id(order.id).id == order.id, "get by id")
check(trading.get_order_by_client_id(cid).id == order.id, "get by client order id")
try:
    trading.submit_order(MarketOrderRequest(symbol="SPY", notional=10.5, side=OrderSide.BUY,
                                            time_in_force=TimeInForce.DAY, client_order_id=cid))
    check(False, "duplicate client_order_id accepted")
except APIError as error:
    check(error.status_code == 422 and error.code == 40010001, f"duplicate error {error}")

positions = trading.get_all_positions()
check([p.symbol for p in positions] == ["SPY"] and float(positions[0].qty) > 0, f"positions {positions}")
check(trading.get_open_position("SPY").symbol == "SPY", "open position")

limit = trading.submit_order(LimitOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, limit_price=100,
                                               time_in_force=TimeInForce.GTC, client_order_id=f"{cid}-lim"))
check(limit.status == OrderStatus.NEW, f"limit order {limit}")
open_orders = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
check([o.id for o in open_orders] == [limit.id], f"open orders {open_orders}")
trading.cancel_order_by_id(limit.id)
check(trading.get_order_by_id(limit.id).status == OrderStatus.CANCELED, "cancel by id")
second = trading.submit_order(LimitOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, limit_price=100,
                                                time_in_force=TimeInForce.GTC))
responses = trading.cancel_orders()
check([str(r.id) for r in responses] == [str(second.id)] and responses[0].status == 200, f"cancel all {responses}")
closed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED, limit=10))
check(len(closed) == 3, f"closed orders {closed}")
# What the reconciliation asks: every order since an instant, oldest first, paged by `after`.
since = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, after=datetime(2011, 3, 16, tzinfo=timezone.utc),
                                            direction=Sort.ASC, limit=500))
check([o.id for o in since] == [order.id, limit.id, second.id], f"all orders since, ascending {since}")
check(trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, after=since[-1].submitted_at)) == [], "after is exclusive")
check(trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, until=datetime(2011, 3, 16, tzinfo=timezone.utc))) == [],
      "until is exclusive")

latest = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols=["SPY", "NODATA"], feed=DataFeed.IEX))
check(set(latest.keys()) == {"SPY"} and latest["SPY"].price == 128.11, f"latest trade {latest}")
quote = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))
check(quote["SPY"].bid_price == 128.10 and quote["SPY"].ask_price == 128.12, f"latest quote {quote}")
bars = data.get_stock_bars(StockBarsRequest(symbol_or_symbols=["SPY"], timeframe=TimeFrame.Day,
                                            start=datetime(2011, 3, 1, tzinfo=timezone.utc), feed=DataFeed.IEX))
closes = [bar.close for bar in bars["SPY"]]
check(closes[:2] == [130.93, 131.21] and len(closes) == 12, f"daily bars {closes}")
minutes = data.get_stock_bars(StockBarsRequest(symbol_or_symbols="SPY", timeframe=TimeFrame.Minute,
                                               start=datetime(2011, 3, 15, 13, 30, tzinfo=timezone.utc),
                                               end=datetime(2011, 3, 15, 20, 0, tzinfo=timezone.utc),
                                               limit=250, feed=DataFeed.IEX))
check(len(minutes["SPY"]) == 250, f"paged minute bars {len(minutes['SPY'])}")
snapshots = data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["SPY", "NODATA"], feed=DataFeed.IEX))
check(snapshots["SPY"].previous_daily_bar.close == 128.56 and snapshots["SPY"].latest_trade.price == 128.11,
      f"snapshot {snapshots}")

print(f"alpaca-py {__import__('alpaca').__version__ if hasattr(__import__('alpaca'), '__version__') else '0.44.0'}: {checks} checks passed")

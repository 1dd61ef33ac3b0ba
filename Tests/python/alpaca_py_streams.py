"""Alpaca's official SDK streams (alpaca-py 0.44.0) against the simulator: the market-data stream
(MessagePack, as the SDK always uses), the trade-updates stream, and the connection-limit error.
Run by AlpacaSimulatorTests.AlpacaPyTests: `python alpaca_py_streams.py HTTP_BASE`."""
import asyncio
import json
import sys
import threading
import time
import urllib.request

import msgpack
import websockets
from alpaca.data.live import StockDataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from alpaca.trading.stream import TradingStream

base = sys.argv[1]
ws_base = base.replace("http://", "ws://")
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def control(path, body):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=5).read())


def streams():
    return json.loads(urllib.request.urlopen(base + "/_sim/streams", timeout=5).read())


def wait_for(condition, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# --- market data (MessagePack) ---
bars, trades = [], []
data_stream = StockDataStream("sim-key", "sim-secret", url_override=f"{ws_base}/v2/iex")


async def on_bar(bar):
    bars.append(bar)


async def on_trade(trade):
    trades.append(trade)


data_stream.subscribe_bars(on_bar, "SPY")
data_stream.subscribe_trades(on_trade, "SPY")
threading.Thread(target=data_stream.run, daemon=True).start()
# Once the simulator reports the subscription, stepping the clock releases the replayed
# minutes 09:31..09:33.
check(wait_for(lambda: "SPY" in (list(streams()["market_data"].values()) or [{}])[0].get("bars", [])), f"subscription {streams()}")
control("/_sim/clock", {"advance_seconds": 120})
check(wait_for(lambda: len(bars) >= 2 and len(trades) >= 2), f"stream data: {len(bars)} bars, {len(trades)} trades")
check([b.close for b in bars[:2]] == [128.12, 128.22], f"bars {bars[:2]}")
check(bars[0].timestamp.isoformat().startswith("2011-03-16T13:31"), f"bar time {bars[0].timestamp}")
check(trades[0].price == bars[0].close, "trade price is the bar's closing print")


# --- a second connection on the same key gets Alpaca's 406 ---
async def second_connection():
    async with websockets.connect(f"{ws_base}/v2/iex", additional_headers={"Content-Type": "application/msgpack"}) as ws:
        hello = msgpack.unpackb(await ws.recv(), timestamp=3)
        await ws.send(msgpack.packb({"action": "auth", "key": "sim-key", "secret": "sim-secret"}))
        reply = msgpack.unpackb(await ws.recv(), timestamp=3)
        return hello, reply

hello, reply = asyncio.run(second_connection())
check(hello == [{"T": "success", "msg": "connected"}], f"greeting {hello}")
check(reply == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}], f"second connection {reply}")

# --- trade updates ---
updates = []
trading_stream = TradingStream("sim-key", "sim-secret", url_override=f"{ws_base}/stream")


async def on_update(update):
    updates.append(update)

trading_stream.subscribe_trade_updates(on_update)
threading.Thread(target=trading_stream.run, daemon=True).start()
check(wait_for(lambda: streams()["trade_update_listeners"] == 1), f"listening {streams()}")
trading = TradingClient("sim-key", "sim-secret", url_override=base)
order = trading.submit_order(MarketOrderRequest(symbol="SPY", notional=25, side=OrderSide.BUY,
                                                time_in_force=TimeInForce.DAY, client_order_id="stream-1"))
check(wait_for(lambda: {getattr(u.event, "value", u.event) for u in updates} >= {"new", "fill"}), f"trade updates {updates}")
fill = next(u for u in updates if getattr(u.event, "value", u.event) == "fill")
check(fill.order.client_order_id == "stream-1" and float(fill.qty) > 0 and float(fill.price) > 0, f"fill {fill}")
check(str(fill.order.id) == str(order.id), "the update carries the order")

print(f"alpaca-py streams: {checks} checks passed")

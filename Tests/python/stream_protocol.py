"""Raw WebSocket frames against the simulator's market-data stream: Alpaca's error codes and
the server-side faults. `python stream_protocol.py HTTP_BASE`."""
import asyncio
import json
import sys
import urllib.request

import websockets

base = sys.argv[1]
ws = base.replace("http://", "ws://") + "/v2/iex"
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


async def recv(socket):
    return json.loads(await asyncio.wait_for(socket.recv(), 5))


async def main():
    # JSON text frames when the client does not ask for MessagePack.
    async with websockets.connect(ws) as s:
        check(await recv(s) == [{"T": "success", "msg": "connected"}], "greeting")
        await s.send(json.dumps({"action": "subscribe", "trades": ["SPY"]}))
        check(await recv(s) == [{"T": "error", "code": 401, "msg": "not authenticated"}], "subscribe before auth")
        await s.send("{not json")
        check(await recv(s) == [{"T": "error", "code": 400, "msg": "invalid syntax"}], "invalid syntax")
        await s.send(json.dumps({"action": "auth", "key": "sim-key", "secret": "wrong"}))
        check(await recv(s) == [{"T": "error", "code": 402, "msg": "auth failed"}], "auth failed")
    async with websockets.connect(ws) as s:
        await recv(s)
        await s.send(json.dumps({"action": "auth", "key": "sim-key", "secret": "sim-secret"}))
        check(await recv(s) == [{"T": "success", "msg": "authenticated"}], "authenticated")
        await s.send(json.dumps({"action": "auth", "key": "sim-key", "secret": "sim-secret"}))
        check(await recv(s) == [{"T": "error", "code": 403, "msg": "already authenticated"}], "already authenticated")
        await s.send(json.dumps({"action": "subscribe", "trades": ["SPY"], "bars": ["*"]}))
        sub = (await recv(s))[0]
        check(sub["T"] == "subscription" and sub["trades"] == ["SPY"] and sub["bars"] == ["*"]
              and sub["corrections"] == ["SPY"], f"subscription {sub}")
        too_many = [f"S{i:03d}" for i in range(31)]
        await s.send(json.dumps({"action": "subscribe", "quotes": too_many}))
        check(await recv(s) == [{"T": "error", "code": 405, "msg": "symbol limit exceeded"}], "symbol limit")
        sub = (await recv(s))[0]
        check(sub["quotes"] == [], f"the subscription is unchanged after 405: {sub}")
        await s.send(json.dumps({"action": "unsubscribe", "trades": ["SPY"]}))
        check((await recv(s))[0]["trades"] == [], "unsubscribe")
        # The server drops the stream on demand.
        fault = {"route": "WS /v2/iex", "kind": "disconnect_streams", "count": 1}
        request = urllib.request.Request(base + "/_sim/faults", data=json.dumps(fault).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=5).read()
        try:
            while True:
                await asyncio.wait_for(s.recv(), 5)
        except websockets.ConnectionClosed:
            check(True, "disconnected")
        except asyncio.TimeoutError:
            check(False, "the stream was not dropped")
    # The slot is free again once the connection is gone.
    async with websockets.connect(ws) as s:
        await recv(s)
        await s.send(json.dumps({"action": "auth", "key": "sim-key", "secret": "sim-secret"}))
        check(await recv(s) == [{"T": "success", "msg": "authenticated"}], "reconnect after drop")

asyncio.run(main())
print(f"stream protocol: {checks} checks passed")

"""Raw-frame conformance checks of our SignalR hub (../shared/reference/signalr.md §13.4).

Usage: hub_conformance.py BASE_URL TOKEN
The server runs with short keep-alive timings (ping after 1 s of silence, client timeout 2 s)
and the user has one open question (pushed after the handshake). Prints one line per check
and "N checks passed"; exit 1 on the first failure.
"""
import asyncio, json, re, sys, urllib.error, urllib.request
import websockets

BASE, TOKEN = sys.argv[1], sys.argv[2]
HUB = BASE + "/hubs/questions"
RS = "\x1e"
passed = 0

def check(condition, what, detail=""):
    global passed
    if not condition:
        print(f"FAIL {what} {detail}")
        sys.exit(1)
    passed += 1
    print(f"ok   {what}")

def negotiate(query="", token=TOKEN):
    request = urllib.request.Request(HUB + "/negotiate" + query, method="POST", data=b"")
    if token is not None:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers.get("Content-Type"), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), None

def ws_url(connection_id):
    return HUB.replace("http://", "ws://") + "?id=" + connection_id

async def open_hub(version=1, query="?negotiateVersion=1"):
    _, _, body = negotiate(query)
    token = body.get("connectionToken") or body["connectionId"]
    ws = await websockets.connect(ws_url(token), additional_headers={"Authorization": "Bearer " + TOKEN}, ping_interval=None)
    await ws.send(json.dumps({"protocol": "json", "version": version}) + RS)
    return ws

async def frames(ws, seconds):
    """Frames received within `seconds` (stops at close)."""
    out = []
    try:
        while True:
            out.append(await asyncio.wait_for(ws.recv(), timeout=seconds))
    except (asyncio.TimeoutError, websockets.ConnectionClosed):
        pass
    return out

async def until(ws, predicate, seconds=8):
    """Messages until `predicate(messages)` holds or `seconds` pass (generous: a loaded CI
    machine can be slow; only the keep-alive checks depend on timing)."""
    got, deadline = [], asyncio.get_event_loop().time() + seconds
    while not predicate(got):
        left = deadline - asyncio.get_event_loop().time()
        if left <= 0:
            break
        try:
            got += messages([await asyncio.wait_for(ws.recv(), timeout=left)])
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            break
    return got

def messages(frame_list):
    result = []
    for frame in frame_list:
        result += [json.loads(part) for part in frame.split(RS) if part]
    return result

async def main():
    # 1. negotiate v1 and v0
    status, ctype, body = negotiate("?negotiateVersion=1")
    check(status == 200 and ctype.startswith("application/json"), "negotiate v1: 200 application/json", f"{status} {ctype}")
    check(body["negotiateVersion"] == 1 and body["connectionId"] and body["connectionToken"], "negotiate v1: id and token", body)
    check(all(re.fullmatch(r"[A-Za-z0-9_-]+", body[k]) for k in ("connectionId", "connectionToken")), "negotiate: URL-safe ids")
    transports = body["availableTransports"]
    check(transports[0]["transport"] == "WebSockets" and transports[0]["transferFormats"][0] == "Text", "negotiate: WebSockets, Text first", transports)
    status, _, body = negotiate("")
    check(status == 200 and body["negotiateVersion"] == 0 and "connectionToken" not in body, "negotiate v0: no connectionToken", body)
    # 2. 401 without or with a bad token; 404 for an unknown id
    check(negotiate("?negotiateVersion=1", token=None)[0] == 401, "negotiate without a token: 401")
    check(negotiate("?negotiateVersion=1", token="x.y.z")[0] == 401, "negotiate with a forged token: 401")
    try:
        with urllib.request.urlopen(HUB + "?id=no-such-connection", timeout=5):
            check(False, "unknown id refused")
    except urllib.error.HTTPError as error:
        check(error.code == 404 and b"No Connection with that ID" in error.read(), "unknown connection id (plain GET): 404", error.code)
    # A refused WebSocket upgrade is answered 400 by the server library (not ASP.NET's 404);
    # every client treats any non-101 as a failed start.
    for name, url, headers in [("unknown connection id", ws_url("no-such-connection"), {"Authorization": "Bearer " + TOKEN}),
                               ("no token and no negotiated id", HUB.replace("http://", "ws://"), {})]:
        try:
            await websockets.connect(url, additional_headers=headers)
            check(False, f"upgrade refused: {name}")
        except websockets.InvalidStatus as error:
            check(error.response.status_code in (400, 404), f"upgrade refused: {name}", error.response.status_code)
    # 3. handshake versions 0, 1, 2: {} first; then the open question is pushed
    for version in (0, 1, 2):
        ws = await open_hub(version)
        first = await asyncio.wait_for(ws.recv(), timeout=5)
        check(isinstance(first, str) and first.startswith("{}" + RS), f"handshake version {version}: {{}} first, text frame", repr(first[:40]))
        rest = [first[3:]] if len(first) > 3 else []
        if version == 1 and not any('"ReceiveQuestion"' in f for f in rest):
            try:
                rest.append(await asyncio.wait_for(ws.recv(), timeout=8))
            except (asyncio.TimeoutError, websockets.ConnectionClosed):
                pass
        rest += await frames(ws, 0.3)
        pushed = [m for m in messages(rest) if m.get("type") == 1]
        if version == 1:
            check(all(f.endswith(RS) for f in [first] + rest if f), "frames hold whole messages only")
            check(len(pushed) >= 1 and pushed[0]["target"] == "ReceiveQuestion", "open question pushed after the handshake", pushed)
            check("invocationId" not in pushed[0], "a server push has no invocationId key")
            question = pushed[0]["arguments"][0]
            check(question["id"] and question["text"] and "options" in question and "expiresAt" in question, "ReceiveQuestion carries id, text, options, expiry")
        await ws.close()
    _, _, body = negotiate("?negotiateVersion=1")
    ws = await websockets.connect(ws_url(body["connectionToken"]), additional_headers={"Authorization": "Bearer " + TOKEN}, ping_interval=None)
    await ws.send(json.dumps({"protocol": "messagepack", "version": 1}) + RS)
    reply = await asyncio.wait_for(ws.recv(), timeout=5)
    check("error" in json.loads(reply.rstrip(RS)), "messagepack handshake: error JSON", reply)
    closed = await frames(ws, 2)
    check(ws.state.name == "CLOSED" or closed == [], "then the connection closes")
    # 4. invocations: one completion each; fire-and-forget gets nothing
    ws = await open_hub()
    await frames(ws, 0.3)
    await ws.send(json.dumps({"type": 1, "invocationId": "7", "target": "NoSuchMethod", "arguments": []}) + RS)
    got = [m for m in await until(ws, lambda ms: any(m.get("type") == 3 for m in ms)) if m.get("type") == 3]
    check(len(got) == 1 and got[0]["invocationId"] == "7" and "Unknown hub method 'NoSuchMethod'" in got[0]["error"], "unknown method: one error completion", got)
    await ws.send(json.dumps({"type": 1, "invocationId": "8", "target": "submitanswer", "arguments": ["not-a-uuid", 10]}) + RS)
    got = [m for m in await until(ws, lambda ms: any(m.get("type") == 3 for m in ms)) if m.get("type") == 3]
    check(len(got) == 1 and "error" in got[0] and "result" not in got[0], "bad arguments (method matched case-insensitively): one error completion", got)
    await ws.send(json.dumps({"type": 1, "target": "NoSuchMethod", "arguments": []}) + RS)
    got = [m for m in messages(await frames(ws, 0.6)) if m.get("type") != 6]
    check(got == [], "fire-and-forget invocation: nothing back", got)
    # Two messages in one frame, and a message split across two frames.
    await ws.send(json.dumps({"type": 6}) + RS + json.dumps({"type": 1, "invocationId": "9", "target": "Nope", "arguments": []}) + RS)
    half = json.dumps({"type": 1, "invocationId": "10", "target": "Nope", "arguments": []}) + RS
    await ws.send(half[:10]); await ws.send(half[10:])
    got = sorted(m["invocationId"] for m in await until(ws, lambda ms: sum(m.get("type") == 3 for m in ms) >= 2) if m.get("type") == 3)
    check(got == ["10", "9"], "several messages per frame and one message over two frames", got)
    # 6. keep-alive ping after silence; a silent client is dropped with allowReconnect
    got = await until(ws, lambda ms: any(m.get("type") == 7 for m in ms), seconds=10)
    check({"type": 6} in got, "a ping after a second of silence", got)
    closes = [m for m in got if m.get("type") == 7]
    check(closes and closes[0].get("allowReconnect") is True, "a silent client gets Close with allowReconnect", got)
    await frames(ws, 5)  # the close frame follows the Close message; a loaded machine may lag
    check(ws.state.name in ("CLOSING", "CLOSED"), "and is disconnected", ws.state.name)
    # 7. a client Close ends the connection
    ws = await open_hub()
    await frames(ws, 0.3)
    await ws.send(json.dumps({"type": 7}) + RS)
    await frames(ws, 2)
    check(ws.state.name == "CLOSED", "a client Close ends the connection")
    print(f"{passed} checks passed")

asyncio.run(main())

"""Hub benchmark helpers (ops/bench/hub/run.sh): mint tokens, hold SignalR connections, commit
questions at a steady rate, and turn the timestamps into a table.

  bench.py tokens  --issuer URL --users N --out FILE
  bench.py clients --apis URL[,URL…] --tokens FILE --first I --count N --conns-per-user K --out FILE --ready FILE
  bench.py commit  --users N --rate R --count C --out FILE        (DATABASE_URL + PGPASSWORD)
  bench.py stats   --commits FILE --receives FILE… [--skip S]

Clients speak SignalR's JSON protocol directly over `websockets` (asyncio): negotiate
(version 1, Authorization header), WebSocket upgrade with ?id=<connectionToken>&access_token=…,
handshake, then they read forever, answer the server's keep-alive with their own ping every
10 s, and note the wall-clock time (time.time(), CLOCK_REALTIME) at which each ReceiveQuestion
arrives. The committer notes, per question, the database's clock_timestamp() inside the
transaction just before COMMIT and time.time() right after COMMIT returns.
"""
import argparse, asyncio, json, os, random, signal, statistics, sys, time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlsplit
import urllib.request

RS = "\x1e"
HUB = "/hubs/questions"


def uid(n):
    return "bench-user-%05d" % n


# --- tokens ---------------------------------------------------------------------------------------

def cmd_tokens(args):
    def mint(n):
        body = json.dumps({"uid": uid(n), "lifetime_seconds": 7200}).encode()
        request = urllib.request.Request(args.issuer + "/token", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["token"]
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(mint, range(args.users)))
    with open(args.out, "w") as out:
        for n, token in enumerate(tokens):
            out.write("%s %s\n" % (uid(n), token))


# --- clients --------------------------------------------------------------------------------------

async def negotiate(base, token):
    """POST <hub>/negotiate?negotiateVersion=1 over a plain asyncio stream (one request)."""
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    request = ("POST %s/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
               "Content-Length: 0\r\nConnection: close\r\n\r\n") % (HUB, parts.netloc, token)
    writer.write(request.encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        raise RuntimeError("negotiate answered %d: %r" % (status, body[:200]))
    return json.loads(body)["connectionToken"]


async def client(index, base, token, received, on_open, stop):
    from websockets.asyncio.client import connect
    connection_token = await negotiate(base, token)
    url = "ws://%s%s?id=%s&access_token=%s" % (urlsplit(base).netloc, HUB, connection_token, quote(token))
    async with connect(url, compression=None, ping_interval=None, max_size=1 << 20, open_timeout=60) as ws:
        await ws.send(json.dumps({"protocol": "json", "version": 1}) + RS)
        buffer, handshaken = "", False

        async def pinger():
            await asyncio.sleep(random.uniform(0, 10))
            while True:
                await ws.send('{"type":6}' + RS)
                await asyncio.sleep(10)

        ping_task = None
        try:
            async for frame in ws:
                now = time.time()
                buffer += frame
                while RS in buffer:
                    text, buffer = buffer.split(RS, 1)
                    message = json.loads(text)
                    if not handshaken:
                        if "error" in message:
                            raise RuntimeError("handshake refused: %s" % message["error"])
                        handshaken = True
                        on_open()
                        ping_task = asyncio.create_task(pinger())
                        continue
                    if message.get("type") == 1 and message.get("target") == "ReceiveQuestion":
                        received.append((message["arguments"][0]["id"], now, index))
                    elif message.get("type") == 7:
                        raise RuntimeError("server closed: %s" % message.get("error"))
                if stop.is_set():
                    break
        finally:
            if ping_task:
                ping_task.cancel()


async def clients_main(args):
    apis = args.apis.split(",")
    with open(args.tokens) as f:
        tokens = [line.split()[1] for line in f if line.strip()]
    received, opened, failures = [], [], []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # Connection i of this process: user (first + i // K); processes alternate over the APIs
    # by global connection number, so each API holds half of every user's connections.
    plan = []
    for i in range(args.count):
        n = args.first + i
        user = n // args.conns_per_user
        plan.append((n, apis[n % len(apis)], tokens[user]))

    # At most this many connections are being set up (negotiate, upgrade, handshake) at once.
    slots = asyncio.Semaphore(args.connect_concurrency)

    async def run(n, base, token):
        released = False

        def on_open():
            nonlocal released
            opened.append(n)
            released = True
            slots.release()
        try:
            await client(n, base, token, received, on_open, stop)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure counts
            failures.append("%d: %s" % (n, error))
        finally:
            if not released:
                slots.release()

    started = time.time()
    tasks = []
    for n, base, token in plan:
        await slots.acquire()
        tasks.append(asyncio.create_task(run(n, base, token)))
    while len(opened) + len(failures) < len(plan):
        await asyncio.sleep(0.05)
    with open(args.ready, "w") as f:
        f.write("%d %d %.3f\n" % (len(opened), len(failures), time.time() - started))
    await stop.wait()
    await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with open(args.out, "w") as out:
        for question, at, index in received:
            out.write("%s %.6f %d\n" % (question, at, index))
    if failures:
        sys.stderr.write("failures (%d): %s\n" % (len(failures), "; ".join(failures[:5])))


def cmd_clients(args):
    asyncio.run(clients_main(args))


# --- commit ---------------------------------------------------------------------------------------

INSERT_AND_NOTIFY = """
WITH q AS (
  INSERT INTO questions (firebase_uid, question_text, source_tag, pipeline_key, pipeline_step, correct_answer, metadata, expires_at)
  VALUES ($1, 'BENCH is down 1.56% vs yesterday.', 'trading:rule:dip_confirm', 'trading', 'dip_confirm:await_confirm', 10,
          '{"rule_id": "dip_confirm", "symbol": "BENCH"}'::jsonb, now() + interval '900 seconds')
  RETURNING id, firebase_uid, expires_at)
SELECT q.id::text,
       pg_notify('hybridhub_questions', json_build_object('expires_at', q.expires_at, 'firebase_uid', q.firebase_uid,
                                                          'question_id', q.id)::text),
       extract(epoch FROM clock_timestamp())::float8
FROM q
"""


async def commit_main(args):
    import asyncpg
    conn = await asyncpg.connect(os.environ["DATABASE_URL"], password=os.environ.get("PGPASSWORD"))
    statement = await conn.prepare(INSERT_AND_NOTIFY)
    rows = []
    interval = 1.0 / args.rate
    start = time.perf_counter() + 0.1
    for i in range(args.count):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        user = uid(random.randrange(args.users))
        async with conn.transaction():
            question, _, db_before_commit = await statement.fetchrow(user)
        after_commit = time.time()
        rows.append((question, db_before_commit, after_commit))
    await conn.close()
    lag = time.perf_counter() - (start + (args.count - 1) * interval)
    with open(args.out, "w") as out:
        for question, before, after in rows:
            out.write("%s %.6f %.6f\n" % (question, before, after))
    print("committed %d questions at %.1f/s (finished %.3f s behind schedule)" % (args.count, args.rate, max(0.0, lag)))


def cmd_commit(args):
    asyncio.run(commit_main(args))


# --- stats ----------------------------------------------------------------------------------------

def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def cmd_stats(args):
    commits = {}
    with open(args.commits) as f:
        for i, line in enumerate(f):
            question, before, after = line.split()
            if i >= args.skip:
                commits[question] = (float(before), float(after))
    receives = []
    for path in args.receives:
        with open(path) as f:
            for line in f:
                question, at, index = line.split()
                receives.append((question, float(at), int(index)))
    after_ms, before_ms, commit_ms = [], [], []
    seen = set()
    for question, at, index in receives:
        if question not in commits:
            continue
        before, after = commits[question]
        after_ms.append((at - after) * 1000)
        before_ms.append((at - before) * 1000)
        seen.add(question)
    for before, after in commits.values():
        commit_ms.append((after - before) * 1000)
    expected = len(commits) * args.conns_per_user
    out = {
        "questions": len(commits), "deliveries": len(after_ms), "expected_deliveries": expected,
        "missing": expected - len(after_ms), "questions_seen": len(seen),
    }
    for name, values in (("after_commit", after_ms), ("before_commit", before_ms), ("commit", commit_ms)):
        out[name] = {"p50": percentile(values, 50), "p90": percentile(values, 90), "p99": percentile(values, 99),
                     "max": max(values) if values else float("nan"), "min": min(values) if values else float("nan"),
                     "mean": statistics.fmean(values) if values else float("nan")}
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("tokens"); p.add_argument("--issuer", required=True); p.add_argument("--users", type=int, required=True)
    p.add_argument("--out", required=True); p.set_defaults(fn=cmd_tokens)
    p = sub.add_parser("clients"); p.add_argument("--apis", required=True); p.add_argument("--tokens", required=True)
    p.add_argument("--first", type=int, required=True); p.add_argument("--count", type=int, required=True)
    p.add_argument("--conns-per-user", type=int, default=1); p.add_argument("--connect-concurrency", type=int, default=20)
    p.add_argument("--out", required=True); p.add_argument("--ready", required=True); p.set_defaults(fn=cmd_clients)
    p = sub.add_parser("commit"); p.add_argument("--users", type=int, required=True); p.add_argument("--rate", type=float, required=True)
    p.add_argument("--count", type=int, required=True); p.add_argument("--out", required=True); p.set_defaults(fn=cmd_commit)
    p = sub.add_parser("stats"); p.add_argument("--commits", required=True); p.add_argument("--receives", nargs="+", required=True)
    p.add_argument("--skip", type=int, default=0); p.add_argument("--conns-per-user", type=int, default=1); p.set_defaults(fn=cmd_stats)
    args = parser.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()

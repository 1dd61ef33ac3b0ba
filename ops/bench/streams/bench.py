"""Streams benchmark helpers (issue 9): seed users whose dip rules cross at known replayed
instants, compute those instants from the simulator's own bars, and turn the hub clients'
receive times into latencies from the crossing trade to ReceiveQuestion.

  seed       --users N --poll S                       SQL for users and their configs (stdout)
  crossings  --sim URL --start ISO --end ISO --users N --out F
  latency    --crossings F --questions F --receives F... --clock F
"""
import argparse, json, statistics, sys, urllib.request
from datetime import datetime, timedelta, timezone

SYMBOLS = ["SPY"] + ["SYN%02d" % k for k in range(1, 30)]


def uid(n):
    return "bench-user-%05d" % n


def user_rule(n):
    """User n watches its symbol and the next one; its dip rule fires at -1.25 % .. -2.24 %."""
    symbol = SYMBOLS[n % len(SYMBOLS)]
    threshold = -(125 + (n * 7) % 100) / 100.0
    return symbol, SYMBOLS[(n + 1) % len(SYMBOLS)], threshold


def cmd_seed(args):
    out = sys.stdout
    out.write("BEGIN;\n")
    for n in range(args.users):
        symbol, other, threshold = user_rule(n)
        override = {
            "data_inputs": [{"id": "primary_watchlist", "symbols": [symbol, other], "poll_interval_seconds": args.poll}],
            "rules": [{"id": "dip_confirm", "symbol": symbol, "threshold_pct": threshold, "max_staleness_seconds": 300,
                       "question_template": "{{symbol}} is down {{pct}}% vs yesterday. Swipe +10 to approve, -10 to skip."}],
            "guardrails": {"max_open_questions": 3},
        }
        doc = json.dumps(override).replace("'", "''")
        out.write("INSERT INTO users (firebase_uid, display_name) VALUES ('%s', 'bench');\n" % uid(n))
        out.write("INSERT INTO user_trading_config (firebase_uid, template_name, config, enabled) "
                  "VALUES ('%s', 'default_paper_watchlist', '%s', true);\n" % (uid(n), doc))
    out.write("COMMIT;\n")


def get(url):
    request = urllib.request.Request(url, headers={"APCA-API-KEY-ID": "bench-key", "APCA-API-SECRET-KEY": "bench-secret"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def parse(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def cmd_crossings(args):
    """The first replayed trade at or below each user's threshold (the simulator's trade for a
    minute bar is its close, stamped one second before the bar ends, as its stream sends it)."""
    bars, refs = {}, {}
    for symbol in sorted({user_rule(n)[0] for n in range(args.users)}):
        snapshot = get("%s/v2/stocks/%s/snapshot?feed=iex" % (args.sim, symbol))
        refs[symbol] = snapshot["prevDailyBar"]["c"]
        page, token = [], None
        while True:
            url = "%s/v2/stocks/bars?symbols=%s&timeframe=1Min&start=%s&end=%s&limit=10000&feed=iex" % (
                args.sim, symbol, args.start, args.end)
            if token:
                url += "&page_token=" + token
            answer = get(url)
            page += answer["bars"].get(symbol, [])
            token = answer.get("next_page_token")
            if not token:
                break
        bars[symbol] = [(parse(b["t"]) + timedelta(seconds=59), b["c"]) for b in page]
    with open(args.out, "w") as out:
        for n in range(args.users):
            symbol, _, threshold = user_rule(n)
            limit = refs[symbol] * (1 + threshold / 100)
            crossing = next((t for t, close in bars[symbol] if close <= limit + 1e-9), None)
            out.write("%s %s %s\n" % (uid(n), symbol, crossing.isoformat() if crossing else "-"))


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def cmd_latency(args):
    with open(args.clock) as f:
        sim0, wall0, speed = f.read().split()
    sim0, wall0, speed = parse(sim0), float(wall0), float(speed)
    crossings = {}
    with open(args.crossings) as f:
        for line in f:
            user, symbol, at = line.split()
            crossings[user] = None if at == "-" else parse(at)
    owner = {}
    with open(args.questions) as f:
        for line in f:
            question, user = line.split()
            owner[question] = user
    first = {}
    for path in args.receives:
        with open(path) as f:
            for line in f:
                question, at, _ = line.split()
                user = owner.get(question)
                if user is not None and (user not in first or float(at) < first[user]):
                    first[user] = float(at)
    latencies, early = [], 0
    for user, at in first.items():
        crossing = crossings.get(user)
        if crossing is None:
            continue
        wall_crossing = wall0 + (crossing - sim0).total_seconds() / speed
        latency = (at - wall_crossing) * 1000
        if latency < 0:
            early += 1
        latencies.append(latency)
    expected = sum(1 for c in crossings.values() if c is not None)
    result = {
        "expected": expected, "received": len(latencies), "missing": expected - len(latencies), "early": early,
        "p50": percentile(latencies, 50), "p90": percentile(latencies, 90), "p99": percentile(latencies, 99),
        "max": max(latencies) if latencies else float("nan"), "min": min(latencies) if latencies else float("nan"),
        "mean": statistics.mean(latencies) if latencies else float("nan"),
    }
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("seed"); p.add_argument("--users", type=int, required=True); p.add_argument("--poll", type=int, default=1)
    p.set_defaults(fn=cmd_seed)
    p = sub.add_parser("crossings"); p.add_argument("--sim", required=True); p.add_argument("--start", required=True)
    p.add_argument("--end", required=True); p.add_argument("--users", type=int, required=True); p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_crossings)
    p = sub.add_parser("latency"); p.add_argument("--crossings", required=True); p.add_argument("--questions", required=True)
    p.add_argument("--receives", nargs="+", required=True); p.add_argument("--clock", required=True)
    p.set_defaults(fn=cmd_latency)
    args = parser.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()

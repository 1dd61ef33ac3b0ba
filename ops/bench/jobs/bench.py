"""Helpers for ops/bench/jobs/run.sh: the PgQueuer contender, polling, statistics, the report.

Runs in the repository's .venv (pgqueuer, asyncpg and uvloop pinned in requirements.txt).
Connection: DATABASE_URL (postgres://user@host:port/db) and DATABASE_PASSWORD_FILE, as for
the Swift binaries. Only PgQueuer's public API is used (Queries, QueueManager, Job).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
import time
from pathlib import Path

import asyncpg
import uvloop

ENTRYPOINT = "lab.job"
LAT_RATE_LABEL = "paced at 100/s"


async def connect() -> asyncpg.Connection:
    password = None
    if path := os.environ.get("DATABASE_PASSWORD_FILE"):
        password = Path(path).read_text().strip()
    return await asyncpg.connect(dsn=os.environ["DATABASE_URL"], password=password)


# --- PgQueuer ---------------------------------------------------------------------------------


async def pgq_install(_: argparse.Namespace) -> None:
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await connect()
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


async def pgq_enqueue(args: argparse.Namespace) -> None:
    """Like `hybridhub-jobs-lab enqueue`: the clock starts before connecting."""
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    started = time.perf_counter()
    conn = await connect()
    try:
        queries = Queries(AsyncpgDriver(conn))
        done = 0
        if args.rate:
            start = time.perf_counter()
            while done < args.count:
                due = start + done / args.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await queries.enqueue(ENTRYPOINT, b"{}", 0)
                done += 1
        elif args.batch == 1:
            while done < args.count:
                await queries.enqueue(ENTRYPOINT, b"{}", 0)
                done += 1
        else:
            while done < args.count:
                n = min(args.batch, args.count - done)
                await queries.enqueue([ENTRYPOINT] * n, [b"{}"] * n, [0] * n)
                done += n
    finally:
        await conn.close()
    elapsed = time.perf_counter() - started
    print(f"enqueued {args.count} in {elapsed:.3f} s ({args.count / elapsed:.0f} jobs/s)")


async def pgq_consume(args: argparse.Namespace) -> None:
    """One PgQueuer consumer process (QueueManager over one asyncpg connection, as in
    PgQueuer's own examples) with a no-op entrypoint; runs until SIGTERM/SIGINT."""
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.models import Job
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries

    conn = await connect()
    qm = QueueManager(Queries(AsyncpgDriver(conn)))
    latencies: list[float] = []
    record = args.latency_out is not None

    @qm.entrypoint(ENTRYPOINT)
    async def noop(job: Job) -> None:
        if record:
            # Handler start minus the row's `created` (database now() at enqueue, same host).
            latencies.append(time.time() - job.created.timestamp())

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, qm.shutdown.set)
    try:
        await qm.run(batch_size=args.batch)
    finally:
        await conn.close()
        if record:
            Path(args.latency_out).write_text("".join(f"{x:.6f}\n" for x in latencies))


# --- Polling ----------------------------------------------------------------------------------


async def wait_sql(args: argparse.Namespace) -> None:
    """Polls `--sql` (a boolean) every `--interval` s on one connection; when it is true and
    `--confirm` (if given) is true too, prints the wall-clock time (epoch seconds) and exits 0.
    Exits 1 after `--timeout` s."""
    conn = await connect()
    try:
        # The cheap probes below rely on the partial indexes; a planner that still believes
        # (from the last ANALYZE) that every row is available would seq-scan 100k rows.
        await conn.execute("SET enable_seqscan = off")
        deadline = time.time() + args.timeout
        while True:
            if await conn.fetchval(args.sql):
                if not args.confirm or await conn.fetchval(args.confirm):
                    print(f"{time.time():.6f}")
                    return
            if time.time() > deadline:
                print(f"wait-sql: timed out after {args.timeout} s: {args.sql}", file=sys.stderr)
                sys.exit(1)
            await asyncio.sleep(args.interval)
    finally:
        await conn.close()


async def query(args: argparse.Namespace) -> None:
    conn = await connect()
    try:
        print(await conn.fetchval(args.sql))
    finally:
        await conn.close()


# --- Statistics and report --------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def stats(args: argparse.Namespace) -> None:
    """Prints `n p50_ms p99_ms max_ms` over the samples (seconds, one a line) of the files."""
    values: list[float] = []
    for name in args.files:
        values += [float(line) for line in Path(name).read_text().split() if line.strip()]
    values.sort()
    if not values:
        print("0 nan nan nan")
        return
    scale = args.scale
    print(f"{len(values)} {percentile(values, 50) * scale:.3f} {percentile(values, 99) * scale:.3f} "
          f"{values[-1] * scale:.3f}")


def load_results(path: str) -> dict[str, str]:
    results: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            results[key.strip()] = value.strip()
    return results


def report(args: argparse.Namespace) -> None:
    r = load_results(args.results)

    def num(key: str) -> float | None:
        try:
            return float(r[key])
        except (KeyError, ValueError):
            return None

    def fmt(value: float | None, digits: int = 0) -> str:
        return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"

    def ratio(a: str, b: str) -> float | None:
        x, y = num(a), num(b)
        return None if x is None or y is None or y == 0 else x / y

    def goal(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "**MISSED**")

    lines: list[str] = []
    add = lines.append
    add(f"# Job engine benchmark — {r.get('date', '?')}")
    add("")
    add("| Machine | |")
    add("|---|---|")
    add(f"| Commit | `{r.get('commit', '?')}` |")
    add(f"| nproc | {r.get('nproc', '?')} |")
    add(f"| CPU | {r.get('cpu', '?')} |")
    add(f"| Load average (1/5/15 min) at start → end | {r.get('load_start', '?')} → {r.get('load_end', '?')} "
        "(anything above 0 is other work on the machine competing with the benchmark) |")
    add(f"| PostgreSQL | {r.get('pg_version', '?')}, synchronous_commit {r.get('sync_commit', '?')} |")
    add(f"| pg_test_fsync fdatasync (one 8 kB write) | {fmt(num('fsync_ops'))} ops/s |")
    add(f"| Swift | {r.get('swift', '?')} |")
    add(f"| PgQueuer / asyncpg / uvloop | {r.get('pgq_version', '?')} |")
    add(f"| Run time | {r.get('run_seconds', '?')} s |")
    add("")

    batch = r.get("drain_batch", "10")
    pgq_batch = r.get("drain_pgq_batch", "10")
    add(f"## 1. Drain {fmt(num('drain_jobs'))} pre-enqueued no-op jobs, 2 consumers")
    add("")
    add(f"Goal rows: ours at claim batch **{batch}** (per process `--concurrency {r.get('drain_concurrency', '?')}`) "
        f"against the raw SQL limit at the same batch {batch} and client count 2; PgQueuer at batch_size "
        f"{pgq_batch} as the issue pins it. The pair at batch {pgq_batch} (ours and raw alike) is given for "
        "comparison.")
    add("")
    add("| Contender | Wall time (s) | jobs/s | jobs per claim statement | jobs per complete statement | "
        "consumer CPU (s) |")
    add("|---|---:|---:|---:|---:|---:|")

    def ours_row(key: str) -> None:
        if num(f"drain_{key}_s") is None:
            return
        add(f"| ours: 2 × `hybridhub-jobs-lab worker --concurrency {r.get(f'drain_{key}_concurrency', '?')} "
            f"--batch {r.get(f'drain_{key}_batch', '?')}` | {fmt(num(f'drain_{key}_s'), 2)} | "
            f"{fmt(num(f'drain_{key}_jps'))} | {fmt(num(f'drain_{key}_per_claim'), 2)} | "
            f"{fmt(num(f'drain_{key}_per_complete'), 2)} | {fmt(num(f'drain_{key}_worker_cpu_s'), 2)} |")

    def raw_row(key: str) -> None:
        if num(f"drain_{key}_s") is None:
            return
        add(f"| raw SQL limit: `pgbench -c 2 -j 2` claim (LIMIT {r.get(f'drain_{key}_batch', '?')}) + complete | "
            f"{fmt(num(f'drain_{key}_s'), 2)} | {fmt(num(f'drain_{key}_jps'))} | "
            f"{fmt(num(f'drain_{key}_per_claim'), 2)} | {fmt(num(f'drain_{key}_per_complete'), 2)} | — |")

    ours_row("ours")
    raw_row("raw")
    ours_row("ours10")
    raw_row("raw10")
    if num("drain_pgq_s") is not None:
        add(f"| PgQueuer: 2 × QueueManager(batch_size={pgq_batch}) | {fmt(num('drain_pgq_s'), 2)} | "
            f"{fmt(num('drain_pgq_jps'))} | — | — | {fmt(num('drain_pgq_worker_cpu_s'), 2)} |")
    add("")
    add("Jobs per statement: the claimed (`attempted_at`) and completed (`finalized_at`) rows of one statement share "
        "its `now()`, so distinct values count statements. Fewer jobs per statement means more round trips and "
        "commits per job. Consumer CPU: user + system seconds of the two consumer processes over the drain.")
    add("")
    d_raw, d_pgq = ratio("drain_ours_jps", "drain_raw_jps"), ratio("drain_ours_jps", "drain_pgq_jps")
    add("| Ratio | Value | Goal | |")
    add("|---|---:|---:|---|")
    add(f"| ours / raw, both at batch {batch} | {fmt(d_raw, 2)} | ≥ 0.80 | {goal(None if d_raw is None else d_raw >= 0.8)} |")
    add(f"| ours (batch {batch}) / PgQueuer (batch {pgq_batch}) | {fmt(d_pgq, 2)} | ≥ 2.00 | "
        f"{goal(None if d_pgq is None else d_pgq >= 2)} |")
    d10 = ratio("drain_ours10_jps", "drain_raw10_jps")
    if d10 is not None:
        add(f"| for comparison: ours / raw, both at batch {pgq_batch} | {fmt(d10, 2)} | — | |")
        add(f"| for comparison: ours (batch {pgq_batch}) / PgQueuer (batch {pgq_batch}) | "
            f"{fmt(ratio('drain_ours10_jps', 'drain_pgq_jps'), 2)} | — | |")
    add("")

    add("## 2. Enqueue throughput, one client")
    add("")
    add("| Jobs per call | ours (jobs/s) | raw INSERT (jobs/s) | PgQueuer (jobs/s) | ours / raw | ours / PgQueuer |")
    add("|---|---:|---:|---:|---:|---:|")
    for label, suffix in (("1 (5,000 jobs)", "1"), ("100 (100,000 jobs)", "100")):
        add(f"| {label} | {fmt(num('enq' + suffix + '_ours'))} | {fmt(num('enq' + suffix + '_raw'))} | "
            f"{fmt(num('enq' + suffix + '_pgq'))} | {fmt(ratio('enq' + suffix + '_ours', 'enq' + suffix + '_raw'), 2)} | "
            f"{fmt(ratio('enq' + suffix + '_ours', 'enq' + suffix + '_pgq'), 2)} |")
    add("")

    add("## 3. Enqueue-to-start latency, 2,000 jobs at 100 jobs/s, 2 idle consumers")
    add("")
    add("| Contender | samples | p50 (ms) | p99 (ms) | max (ms) | Goal p99 < 5 ms |")
    add("|---|---:|---:|---:|---:|---|")
    for label, key in (("ours", "lat_ours"), ("PgQueuer", "lat_pgq")):
        p99 = num(key + "_p99")
        add(f"| {label} | {fmt(num(key + '_n'))} | {fmt(num(key + '_p50'), 2)} | {fmt(p99, 2)} | "
            f"{fmt(num(key + '_max'), 2)} | {goal(None if p99 is None else p99 < 5) if key == 'lat_ours' else '—'} |")
    add(f"| reference: the enqueue transaction alone (pgbench, single-row INSERT, {LAT_RATE_LABEL}) | "
        f"{fmt(num('lat_commit_n'))} | {fmt(num('lat_commit_p50'), 2)} | {fmt(num('lat_commit_p99'), 2)} | "
        f"{fmt(num('lat_commit_max'), 2)} | — |")
    add("")
    add("Both latencies start at `now()` of the enqueue's transaction (`created_at`, PgQueuer's `created`), and a "
        "job is visible to workers only once that transaction's commit (WAL flush) is done: the reference row is "
        "that part alone, so the engine's own share is roughly the difference.")
    add("")

    add("## 4. Rescue after SIGKILL (lease 5 s, heartbeat 1 s, maintenance 1 s), 4 jobs, 5 trials")
    add("")
    add("Time from `kill -9` of worker A until all 4 jobs are running again on worker B at lease epoch 2.")
    add("")
    add("| Trials (s) | p50 (s) | max (s) | Goal max < 10 s |")
    add("|---|---:|---:|---|")
    rmax = num("rescue_max")
    add(f"| {r.get('rescue_trials', 'n/a')} | {fmt(num('rescue_p50'), 2)} | {fmt(rmax, 2)} | "
        f"{goal(None if rmax is None else rmax < 10)} |")
    add("")
    if r.get("notes"):
        add("## Notes from this run")
        add("")
        for note in r["notes"].split(" | "):
            add(f"- {note}")
        add("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("pgq-install")
    p = sub.add_parser("pgq-enqueue")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--rate", type=float)
    p = sub.add_parser("pgq-consume")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--latency-out")
    p = sub.add_parser("wait-sql")
    p.add_argument("--sql", required=True)
    p.add_argument("--confirm")
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--timeout", type=float, default=600)
    p = sub.add_parser("query")
    p.add_argument("--sql", required=True)
    p = sub.add_parser("stats")
    p.add_argument("--scale", type=float, default=1000.0)
    p.add_argument("files", nargs="+")
    p = sub.add_parser("report")
    p.add_argument("--results", required=True)
    p.add_argument("--out")
    args = parser.parse_args()

    handlers = {"pgq-install": pgq_install, "pgq-enqueue": pgq_enqueue, "pgq-consume": pgq_consume,
                "wait-sql": wait_sql, "query": query}
    if args.command in handlers:
        uvloop.run(handlers[args.command](args))
    elif args.command == "stats":
        stats(args)
    else:
        report(args)


if __name__ == "__main__":
    main()

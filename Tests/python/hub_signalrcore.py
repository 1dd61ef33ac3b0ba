"""A real SignalR client (signalrcore 1.0.2) against our hub.

Usage: hub_signalrcore.py HUB_URL TOKEN [--answer VALUE] [--expect-withdrawn] [--connections N]
Connects N connections of one user (each may be a different HUB_URL: comma-separated),
prints READY once all are open, waits for ReceiveQuestion on every connection, then (with
--answer) invokes SubmitAnswer on the first and waits for a ReceiveTradeUpdate whose status is
terminal; with --expect-withdrawn, prints QUESTION once it has the question and waits for a
ReceiveQuestionWithdrawn of it. Prints one JSON line with what it saw; exit 0 on success.
"""
import argparse, json, logging, os, sys, threading, time
from signalrcore.hub_connection_builder import HubConnectionBuilder

parser = argparse.ArgumentParser()
parser.add_argument("hubs")
parser.add_argument("token")
parser.add_argument("--answer", type=float)
parser.add_argument("--expect-withdrawn", action="store_true")
parser.add_argument("--timeout", type=float, default=60)
args = parser.parse_args()

lock = threading.Lock()
opened, questions, updates, completions, errors, withdrawn = [], {}, [], [], [], []

def make(index, url):
    conn = (HubConnectionBuilder()
            .with_url(url, options={"access_token_factory": lambda: args.token})
            .with_automatic_reconnect({"type": "raw", "keep_alive_interval": 10, "reconnect_interval": 2, "max_attempts": 3})
            .configure_logging(logging.CRITICAL)
            .build())
    conn.on_open(lambda: opened.append(index))
    conn.on_error(lambda c: errors.append(str(getattr(c, "error", c))))
    def on_question(arguments):
        with lock:
            questions.setdefault(index, []).append(arguments[0])
    def on_update(arguments):
        with lock:
            updates.append(arguments[0])
    conn.on("ReceiveQuestion", on_question)
    def on_withdrawn(arguments):
        with lock:
            withdrawn.append(arguments[0])
    conn.on("ReceiveTradeUpdate", on_update)
    conn.on("ReceiveQuestionWithdrawn", on_withdrawn)
    conn.start()
    return conn

urls = args.hubs.split(",")
connections = [make(i, url) for i, url in enumerate(urls)]

def wait(predicate, what):
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    print(json.dumps({"ok": False, "waiting_for": what, "questions": questions, "updates": updates, "errors": errors}, default=str), flush=True)
    os._exit(1)  # signalrcore's threads would keep the process alive

wait(lambda: len(opened) == len(urls), "all connections to open")
time.sleep(0.3)  # signalrcore's on_open fires before the handshake reply is read
print("READY", flush=True)
wait(lambda: all(questions.get(i) for i in range(len(urls))), "ReceiveQuestion on every connection")
question = questions[0][-1]
result = {"ok": True, "question": question, "per_connection": {i: len(questions[i]) for i in questions}}
if args.expect_withdrawn:
    print("QUESTION", flush=True)
    wait(lambda: any(w.get("id") == question["id"] for w in withdrawn), "ReceiveQuestionWithdrawn of the question")
    result["withdrawn"] = withdrawn
if args.answer is not None:
    connections[0].send("SubmitAnswer", [question["id"], args.answer], on_invocation=lambda c: completions.append(c.result))
    wait(lambda: completions, "the SubmitAnswer completion")
    result["completion"] = completions[0]
    wait(lambda: any(u.get("status") in ("filled", "canceled", "rejected", "expired", "blocked", "failed") for u in updates), "a terminal ReceiveTradeUpdate")
    result["updates"] = updates
print(json.dumps(result, default=str), flush=True)
# signalrcore's stop() can block on its reader thread; give it a moment, then leave.
stopper = threading.Thread(target=lambda: [conn.stop() for conn in connections], daemon=True)
stopper.start()
stopper.join(3)
os._exit(0)

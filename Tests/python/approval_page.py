"""The approval page (/approve) in a real browser: Playwright (PyPI) driving Debian's chromium.

Usage: approval_page.py API_BASE TOKEN [--timeout SECONDS] [--chromium PATH]

Opens API_BASE/approve#token=TOKEN (the link the demo prints), waits until the page says it is
live on the hub and prints READY. The caller then makes the pipeline create a question; this
waits for it to appear (it can only come over the hub: the page had none when it went live),
clicks Approve, and waits until the orders table shows the order as filled (the answer's own
refresh shows it placed; a ReceiveTradeUpdate refreshes it to filled). Prints one JSON line with
what it saw; exit 0 on success. Never downloads a browser: chromium comes from Debian.
"""
import argparse, json, sys, time
from playwright.sync_api import sync_playwright, TimeoutError as PlaywrightTimeout

parser = argparse.ArgumentParser()
parser.add_argument("base")
parser.add_argument("token")
parser.add_argument("--timeout", type=float, default=30)
parser.add_argument("--chromium", default="/usr/bin/chromium")
args = parser.parse_args()
timeout_ms = args.timeout * 1000

result = {"ok": False, "console_errors": [], "page_errors": [], "steps": []}


def step(text):
    result["steps"].append(text)
    print(text, flush=True)


def fail(what, page=None):
    result["waiting_for"] = what
    if page is not None:
        try:
            result["status_text"] = page.text_content("#status")
            result["orders"] = page.eval_on_selector_all("#orders tbody tr", "rows => rows.map(r => r.innerText)")
        except Exception as error:  # the page may be gone
            result["inspect_error"] = str(error)
    print(json.dumps(result), flush=True)
    sys.exit(1)


with sync_playwright() as playwright:
    # As root, chromium's sandbox cannot start: --no-sandbox. No GPU on this machine.
    browser = playwright.chromium.launch(executable_path=args.chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
    page = browser.new_page()
    page.on("console", lambda m: m.type == "error" and result["console_errors"].append(m.text))
    page.on("requestfailed", lambda r: result["console_errors"].append("request failed: " + r.url))
    page.on("response", lambda r: r.status >= 400 and result["console_errors"].append("HTTP %d: %s" % (r.status, r.url)))
    page.on("pageerror", lambda e: result["page_errors"].append(str(e)))
    # What the hub sent the page, read off its WebSocket by the browser's own instrumentation.
    hub = result["hub_messages"] = []

    def on_frame(payload):
        text = payload if isinstance(payload, str) else payload.decode()
        for part in text.split("\x1e"):
            if part.strip():
                message = json.loads(part)
                if message.get("type") == 1:
                    argument = (message.get("arguments") or [{}])[0]
                    hub.append({"target": message["target"], "id": argument.get("id"), "status": argument.get("status")})
    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    page.goto(args.base + "/approve#token=" + args.token)
    try:
        page.wait_for_function("document.getElementById('status').textContent.startsWith('Signed in; live')", timeout=timeout_ms)
    except PlaywrightTimeout:
        fail("the page to sign in and go live on the hub", page)
    result["url_after_sign_in"] = page.url
    if "token=" in page.url:
        fail("the token to be removed from the address bar", page)
    if page.query_selector(".question[data-id]") is not None:
        fail("no question before the pipeline makes one (the test needs it to arrive live)", page)
    step("READY")

    started = time.time()
    try:
        question = page.wait_for_selector(".question[data-id]", timeout=timeout_ms)
    except PlaywrightTimeout:
        fail("a question to arrive over the hub", page)
    result["question_id"] = question.get_attribute("data-id")
    result["question_text"] = question.inner_text()
    result["question_after_s"] = round(time.time() - started, 3)
    # The card: the order an approval executes, with a countdown that ticks.
    page.wait_for_timeout(1100)
    card = question.query_selector("dl.order")
    result["order_card"] = card.evaluate("dl => Object.fromEntries([...dl.querySelectorAll('dd')].map(d => [d.dataset.field, d.textContent]))") if card else None
    step("QUESTION " + result["question_id"])

    question.query_selector(".approve").click()
    try:
        page.wait_for_selector('.question[data-id="%s"]' % result["question_id"], state="detached", timeout=timeout_ms)
    except PlaywrightTimeout:
        fail("the answered question to leave the page", page)
    try:
        page.wait_for_selector('#orders tbody tr[data-status="filled"]', timeout=timeout_ms)
    except PlaywrightTimeout:
        fail("the order to show as filled in the orders table", page)
    deadline = time.time() + args.timeout
    while not any(m["target"] == "ReceiveTradeUpdate" and m["status"] == "filled" for m in hub):
        if time.time() > deadline:
            fail("ReceiveTradeUpdate with status filled on the page's WebSocket", page)
        page.wait_for_timeout(50)
    # The user's own book: the position the fill opened.
    try:
        page.wait_for_selector('#positions tbody tr[data-symbol]', timeout=timeout_ms)
    except PlaywrightTimeout:
        fail("the position to show in the positions table", page)
    result["positions"] = page.eval_on_selector_all(
        "#positions tbody tr",
        "rows => rows.map(r => ({symbol: r.dataset.symbol, qty: r.dataset.qty, cells: Array.from(r.cells).map(c => c.textContent)}))")
    result["pnl_text"] = page.text_content("#pnl")
    rows = page.eval_on_selector_all(
        "#orders tbody tr",
        "rows => rows.map(r => ({id: r.dataset.id, status: r.dataset.status, cells: Array.from(r.cells).map(c => c.textContent)}))")
    result["orders"] = rows
    result["status_text"] = page.text_content("#status")
    step("FILLED")
    browser.close()

result["ok"] = not result["page_errors"] and not result["console_errors"]
print(json.dumps(result), flush=True)
sys.exit(0 if result["ok"] else 1)

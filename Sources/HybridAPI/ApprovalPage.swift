import Hummingbird
import NIOCore

/// `GET /approve`: a page for people without the app. Sign in with an ID token (the demo
/// prints a link with one), watch questions arrive live over the hub, approve or skip, see
/// orders and fills, and the user's own positions and P&L. Plain HTML and a small SignalR
/// JSON-protocol client; no external files.
enum ApprovalPage {
    static func add(to router: Router<APIContext>, hubPath: String) {
        let html = page.replacingOccurrences(of: "__HUB_PATH__", with: hubPath)
        router.get("/approve") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: html)))
        }
    }

    static let page = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>HybridHub approvals</title><link rel="icon" href="data:,">
<style>
 body{font-family:system-ui,sans-serif;max-width:52rem;margin:1.5rem auto;padding:0 1rem;color:#111}
 h1{font-size:1.4rem} .muted{color:#666} .row{display:flex;gap:.5rem;align-items:center}
 input{flex:1;padding:.4rem;font-family:monospace} button{padding:.4rem .9rem;cursor:pointer}
 .question{border:1px solid #ccc;border-radius:.5rem;padding:.8rem;margin:.6rem 0}
 .order{display:grid;grid-template-columns:auto 1fr;gap:.1rem .8rem;margin:.4rem 0;font-size:.95rem}
 .order dt{color:#666} .order dd{margin:0;font-weight:600} .withdrawn{opacity:.6}
 .approve{background:#1a7f37;color:#fff;border:0;border-radius:.3rem} .skip{background:#cf222e;color:#fff;border:0;border-radius:.3rem}
 table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;font-size:.9rem}
</style></head>
<body>
<h1>HybridHub approvals</h1>
<div class="row"><input id="token" placeholder="Firebase ID token" autocomplete="off"><button id="signin">Sign in</button></div>
<p id="status" class="muted">Not signed in.</p>
<h2>Questions</h2><div id="questions"><p class="muted" id="no-questions">No open questions.</p></div>
<h2>Positions</h2>
<p id="pnl" class="muted">No positions.</p>
<table id="positions"><thead><tr><th>Symbol</th><th>Qty</th><th>Avg cost</th><th>Price</th><th>Unrealized</th><th>Realized</th><th>Today</th></tr></thead><tbody></tbody></table>
<h2>Orders</h2>
<table id="orders"><thead><tr><th>When</th><th>Symbol</th><th>Side</th><th>Size</th><th>Status</th><th>Filled</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const RS = "\u001e";
let token = "", socket = null, pinger = null;
const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text; };
function api(path, options = {}) {
  options.headers = Object.assign({"Authorization": "Bearer " + token}, options.headers || {});
  return fetch(path, options).then(async (r) => {
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.message || ("HTTP " + r.status));
    return body;
  });
}
function showQuestion(q) {
  if (document.querySelector('.question[data-id="' + q.id + '"]')) return;
  $("no-questions").style.display = "none";
  const div = document.createElement("div");
  div.className = "question"; div.dataset.id = q.id;
  const text = document.createElement("p"); text.textContent = q.text; div.appendChild(text);
  // The order an approval executes, exactly as frozen with the question (metadata.order).
  const o = (q.metadata || {}).order;
  if (o) {
    const card = document.createElement("dl"); card.className = "order";
    const size = o.notional_usd != null ? "$" + Number(o.notional_usd).toFixed(2) : o.qty + (Number(o.qty) === 1 ? " share" : " shares");
    const age = o.data_age_seconds != null ? o.data_age_seconds + " s old when asked" : "";
    const rows = [["Order", o.side + " " + size + " of " + o.symbol], ["Type", o.order_type + " (" + o.time_in_force + ")"],
                  ["Price", o.price != null ? "$" + o.price + (o.reference != null ? " vs $" + o.reference + " (" + o.ref_metric + ")" : "") : "-"],
                  ["Data", age || "-"], ["Expires in", ""]];
    // A sell shows the position it sells from (the user's own book when asked).
    const p = (q.metadata || {}).position;
    if (p) rows.splice(1, 0, ["Position", p.qty + " " + o.symbol + " at avg $" + Number(p.avg_cost).toFixed(2)],
                       ["P&L", p.unrealized_pnl != null ? money(p.unrealized_pnl) : "-"]);
    for (const [label, value] of rows) {
      const dt = document.createElement("dt"); dt.textContent = label; card.appendChild(dt);
      const dd = document.createElement("dd"); dd.textContent = value; dd.dataset.field = label.toLowerCase().replace(/ /g, "-"); card.appendChild(dd);
    }
    div.appendChild(card);
  }
  const meta = document.createElement("p"); meta.className = "muted"; div.appendChild(meta);
  const approve = document.createElement("button"); approve.className = "approve"; approve.textContent = "Approve (+10)";
  const skip = document.createElement("button"); skip.className = "skip"; skip.textContent = "Skip (-10)";
  approve.onclick = () => answer(q.id, 10, div); skip.onclick = () => answer(q.id, -10, div);
  const row = document.createElement("div"); row.className = "row"; row.appendChild(approve); row.appendChild(skip);
  div.appendChild(row); $("questions").appendChild(div);
  const expires = q.expiresAt || q.expires_at;
  if (expires) {
    // Counts down once a second until the question leaves the page.
    const tick = () => {
      if (!div.isConnected) { clearInterval(timer); return; }
      const left = Math.max(0, Math.round((new Date(expires) - Date.now()) / 1000));
      const text = left > 0 ? Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") : "expired";
      const field = div.querySelector('[data-field="expires-in"]');
      if (field) field.textContent = text; else meta.textContent = "expires in " + text;
    };
    const timer = setInterval(tick, 1000); tick();
  }
}
function answer(id, value, div) {
  api("/v1/me/questions/" + id + "/answer", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({value})})
    .then((r) => { div.remove(); status("Answered: " + r.outcome + " (" + r.detail + ")"); loadOrders(); })
    .catch((e) => status("Answer failed: " + e.message));
}
function withdraw(w) {
  const div = document.querySelector('.question[data-id="' + w.id + '"]');
  if (!div) return;
  div.classList.add("withdrawn");
  div.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  const note = document.createElement("p"); note.className = "muted"; note.textContent = "Withdrawn: " + w.reason; div.appendChild(note);
  status("A question was withdrawn: " + w.reason);
}
const money = (v) => v == null ? "-" : (Number(v) < 0 ? "-$" : "+$") + Math.abs(Number(v)).toFixed(2);
// The user's own book: positions valued at the newest price, and the totals.
let positionsRequest = 0;
function loadPositions() {
  const mine = ++positionsRequest;
  return api("/v1/me/trading/positions").then((r) => {
    if (mine !== positionsRequest) return;
    const body = $("positions").querySelector("tbody"); body.innerHTML = "";
    for (const p of r.positions) {
      const tr = document.createElement("tr"); tr.dataset.symbol = p.symbol; tr.dataset.qty = p.qty;
      const cells = [p.symbol, String(p.qty), "$" + Number(p.avg_cost).toFixed(2), p.price != null ? "$" + p.price : "-",
                     money(p.unrealized_pnl_usd), money(p.realized_pnl_usd), money(p.day_pnl_usd)];
      for (const cell of cells) { const td = document.createElement("td"); td.textContent = cell; tr.appendChild(td); }
      body.appendChild(tr);
    }
    const t = r.pnl;
    $("pnl").textContent = r.positions.length === 0 && Number(t.realized_pnl_usd) === 0 ? "No positions."
      : "Cost $" + Number(t.cost_basis_usd).toFixed(2) + ", unrealized " + money(t.unrealized_pnl_usd) + ", realized " + money(t.realized_pnl_usd)
        + ", today (" + t.trading_day + ") " + money(t.day_pnl_usd);
  });
}
// Refreshes can overlap (the answer's own and a ReceiveTradeUpdate's): only the newest is shown,
// so a slower, older response never puts a stale status back.
let ordersRequest = 0;
function loadOrders() {
  loadPositions().catch((e) => status("Positions failed: " + e.message));
  const mine = ++ordersRequest;
  return api("/v1/me/trading/orders?limit=20").then((r) => {
    if (mine !== ordersRequest) return;
    const body = $("orders").querySelector("tbody"); body.innerHTML = "";
    for (const o of r.orders) {
      const tr = document.createElement("tr"); tr.dataset.id = o.id; tr.dataset.status = o.status;
      const size = o.notional_usd != null ? "$" + o.notional_usd : o.qty + " sh";
      const filled = o.filled_qty ? o.filled_qty + " @ " + o.filled_avg_price : "";
      for (const cell of [new Date(o.created_at).toLocaleTimeString(), o.symbol, o.side, size, o.status, filled]) {
        const td = document.createElement("td"); td.textContent = cell; tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  });
}
function handle(message) {
  if (message.type === 1 && message.target === "ReceiveQuestion") showQuestion(message.arguments[0]);
  if (message.type === 1 && message.target === "ReceiveQuestionWithdrawn") withdraw(message.arguments[0]);
  if (message.type === 1 && message.target === "ReceiveTradeUpdate") { loadOrders(); status("Order " + message.arguments[0].status); }
  if (message.type === 7) status("The hub closed the connection" + (message.error ? ": " + message.error : ""));
}
async function connect() {
  const negotiated = await api("__HUB_PATH__/negotiate?negotiateVersion=1", {method: "POST"});
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "__HUB_PATH__?id=" + negotiated.connectionToken + "&access_token=" + encodeURIComponent(token));
  let buffer = "", handshaken = false;
  socket.onopen = () => socket.send(JSON.stringify({protocol: "json", version: 1}) + RS);
  socket.onmessage = (event) => {
    buffer += event.data;
    let end;
    while ((end = buffer.indexOf(RS)) >= 0) {
      const text = buffer.slice(0, end); buffer = buffer.slice(end + 1);
      const message = JSON.parse(text);
      // (Re)connected: the hub sends the open questions again; orders may have moved meanwhile.
      if (!handshaken) { handshaken = true; if (message.error) { status("Hub refused: " + message.error); return; } status("Signed in; live."); loadOrders().catch(() => {}); continue; }
      handle(message);
    }
  };
  socket.onclose = () => { clearInterval(pinger); status("Disconnected; reconnecting…"); setTimeout(() => connect().catch((e) => status(e.message)), 2000); };
  clearInterval(pinger);
  pinger = setInterval(() => { if (socket.readyState === 1) socket.send(JSON.stringify({type: 6}) + RS); }, 15000);
}
$("signin").onclick = async () => {
  token = $("token").value.trim();
  if (!token) { status("Paste a token first."); return; }
  // Signing in again (another token) replaces the live connection rather than adding one.
  if (socket) { socket.onclose = null; socket.close(); socket = null; }
  try {
    const open = await api("/v1/me/questions");
    open.questions.forEach(showQuestion);
    await loadOrders();
    await connect();
  } catch (e) { status("Sign-in failed: " + e.message); }
};
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) { $("token").value = fromHash; history.replaceState(null, "", location.pathname); $("signin").click(); }
</script>
</body></html>
"""#
}

"""Checks the simulator's real responses against Alpaca's OpenAPI documents.

    python openapi_conformance.py BASE_URL --market-data-spec FILE [--trading-spec FILE]

Every implemented route is called on a simulator whose clock stands inside a session with
replayed data (the callers start it at 2011-03-16 13:39 ET, stepped). Each answer must:
- have a status the official document declares for that operation;
- validate against the document's response schema for that status (OpenAPI 3.0 rules: `nullable`,
  formats such as date-time, int64, double), with every `$ref` resolved in the document;
- carry the X-RateLimit-* headers as integers where the document declares them;
- for errors (the documents give them no body schema): Alpaca's `{"code": int, "message": str}`.

Trading answers are also checked against `TRADING_SHAPES` below: the fields and types that
alpaca-py 0.44.0 relies on, written for this project from the protocol notes (not copied from
Alpaca's trading document, which carries no licence and is not in the repository). The official
trading document is used only when a path to it is given (ops/openapi-conformance.sh does that
when ../shared/reference/alpaca-openapi/ is present).

Prints one line per answer checked, then "N checks passed" and exits 0, or lists every
violation and exits 1."""
import argparse
from collections import Counter
import json
import re
import sys
import uuid

import requests
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

HEADERS = {"APCA-API-KEY-ID": "sim-key", "APCA-API-SECRET-KEY": "sim-secret"}
RATE_HEADERS = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]

# --- The calls: (method, path template in the document, concrete path, JSON body) ------------

DAY = "start=2011-03-16T13%3A30%3A00%2B00%3A00&end=2011-03-16T20%3A00%3A00Z"
MARKET_DATA_CALLS = [
    ("GET", "/v2/stocks/bars", f"/v2/stocks/bars?symbols=SPY%2CAAPL&timeframe=1Min&{DAY}&limit=100&feed=iex", None),
    ("GET", "/v2/stocks/bars", f"/v2/stocks/bars?symbols=SPY&timeframe=5Min&{DAY}&feed=iex&sort=desc", None),
    ("GET", "/v2/stocks/bars", "/v2/stocks/bars?symbols=SPY%2CAAPL&timeframe=1Day&start=2011-03-01&end=2011-03-16&limit=5&feed=iex", None),
    ("GET", "/v2/stocks/bars", "/v2/stocks/bars?symbols=NODATA&timeframe=1Day&feed=iex", None),
    ("GET", "/v2/stocks/{symbol}/bars", f"/v2/stocks/SPY/bars?timeframe=1Hour&{DAY}&limit=3&feed=iex", None),
    ("GET", "/v2/stocks/bars/latest", "/v2/stocks/bars/latest?symbols=SPY%2CAAPL&feed=iex", None),
    ("GET", "/v2/stocks/{symbol}/bars/latest", "/v2/stocks/SPY/bars/latest?feed=iex", None),
    ("GET", "/v2/stocks/trades/latest", "/v2/stocks/trades/latest?symbols=SPY%2CNODATA&feed=iex", None),
    ("GET", "/v2/stocks/{symbol}/trades/latest", "/v2/stocks/SPY/trades/latest?feed=iex", None),
    ("GET", "/v2/stocks/quotes/latest", "/v2/stocks/quotes/latest?symbols=SPY", None),
    ("GET", "/v2/stocks/{symbol}/quotes/latest", "/v2/stocks/SPY/quotes/latest", None),
    ("GET", "/v2/stocks/snapshots", "/v2/stocks/snapshots?symbols=SPY%2CNODATA&feed=iex", None),
    ("GET", "/v2/stocks/snapshots", "/v2/stocks/snapshots?symbols=NODATA", None),
    ("GET", "/v2/stocks/{symbol}/snapshot", "/v2/stocks/SPY/snapshot?feed=iex", None),
    # Bad input: the status must be one the document declares, the body Alpaca's error shape.
    ("GET", "/v2/stocks/bars", "/v2/stocks/bars?symbols=SPY&timeframe=7Weeks", None),
    ("GET", "/v2/stocks/bars", "/v2/stocks/bars?symbols=SPY&timeframe=1Min&page_token=garbage", None),
    ("GET", "/v2/stocks/trades/latest", "/v2/stocks/trades/latest", None),
    ("GET", "/v2/stocks/trades/latest", "/v2/stocks/trades/latest?symbols=SPY&feed=nasdaq", None),
    ("GET", "/v2/stocks/{symbol}/snapshot", "/v2/stocks/NODATA/snapshot", None),
    ("GET", "/v2/stocks/bars", "/v2/stocks/bars?symbols=SPY&timeframe=1Min&sort=sideways", None),
]


def trading_calls(session, base):
    """Trading calls; the order ids come from the orders placed on the way."""
    cid = f"conf-{uuid.uuid4().hex[:12]}"
    market = {"symbol": "SPY", "notional": 10.5, "side": "buy", "type": "market", "time_in_force": "day", "client_order_id": cid}
    limit = {"symbol": "SPY", "qty": 1, "side": "buy", "type": "limit", "limit_price": 100, "time_in_force": "gtc"}
    yield ("GET", "/v2/account", "/v2/account", None)
    yield ("GET", "/v2/clock", "/v2/clock", None)
    yield ("GET", "/v2/calendar", "/v2/calendar?start=2011-03-14&end=2011-03-16", None)
    yield ("GET", "/v2/assets", "/v2/assets?status=active&asset_class=us_equity", None)
    yield ("GET", "/v2/assets/{symbol_or_asset_id}", "/v2/assets/SPY", None)
    yield ("GET", "/v2/assets/{symbol_or_asset_id}", "/v2/assets/NOPE", None)
    yield ("POST", "/v2/orders", "/v2/orders", market)
    yield ("POST", "/v2/orders", "/v2/orders", limit)
    yield ("POST", "/v2/orders", "/v2/orders", market)  # duplicate client_order_id: 422
    yield ("POST", "/v2/orders", "/v2/orders", {**limit, "qty": 100000})  # buying power: 403
    yield ("POST", "/v2/orders", "/v2/orders", {**limit, "qty": -1})
    yield ("GET", "/v2/orders", "/v2/orders?status=all&limit=10&direction=asc", None)
    order = session.get(f"{base}/v2/orders:by_client_order_id?client_order_id={cid}").json()
    yield ("GET", "/v2/orders/{order_id}", f"/v2/orders/{order['id']}", None)
    yield ("GET", "/v2/orders:by_client_order_id", f"/v2/orders:by_client_order_id?client_order_id={cid}", None)
    yield ("GET", "/v2/positions", "/v2/positions", None)
    yield ("GET", "/v2/positions/{symbol_or_asset_id}", "/v2/positions/SPY", None)
    open_orders = session.get(f"{base}/v2/orders?status=open").json()
    yield ("DELETE", "/v2/orders/{order_id}", f"/v2/orders/{open_orders[0]['id']}", None)
    yield ("DELETE", "/v2/orders/{order_id}", f"/v2/orders/{open_orders[0]['id']}", None)  # no longer cancellable: 422
    session.post(f"{base}/v2/orders", json=limit)
    yield ("DELETE", "/v2/orders", "/v2/orders", None)


# --- Our own statement of the trading shapes alpaca-py needs (see the module docstring) ----

DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
DECIMAL_OR_NULL = {"type": "string", "nullable": True, "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": "string", "nullable": True, "format": "date-time"}
UUID = {"type": "string", "pattern": r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
ERROR = {"type": "object", "required": ["code", "message"],
         "properties": {"code": {"type": "integer"}, "message": {"type": "string", "minLength": 1}}}
ORDER = {"type": "object",
         "required": ["id", "client_order_id", "created_at", "updated_at", "submitted_at", "filled_at", "symbol",
                      "asset_id", "asset_class", "qty", "notional", "filled_qty", "filled_avg_price", "order_class",
                      "type", "side", "time_in_force", "limit_price", "stop_price", "status", "extended_hours"],
         "properties": {
             "id": UUID, "asset_id": UUID, "client_order_id": {"type": "string", "maxLength": 128},
             "created_at": TIME, "updated_at": TIME, "submitted_at": TIME, "filled_at": TIME_OR_NULL,
             "canceled_at": TIME_OR_NULL, "expired_at": TIME_OR_NULL, "failed_at": TIME_OR_NULL,
             "symbol": {"type": "string"}, "asset_class": {"enum": ["us_equity"]},
             "qty": DECIMAL_OR_NULL, "notional": DECIMAL_OR_NULL, "filled_qty": DECIMAL, "filled_avg_price": DECIMAL_OR_NULL,
             "order_class": {"enum": ["", "simple", "bracket", "oco", "oto"]},
             "type": {"enum": ["market", "limit", "stop", "stop_limit", "trailing_stop"]},
             "side": {"enum": ["buy", "sell"]}, "time_in_force": {"enum": ["day", "gtc", "opg", "cls", "ioc", "fok"]},
             "limit_price": DECIMAL_OR_NULL, "stop_price": DECIMAL_OR_NULL,
             "status": {"enum": ["new", "partially_filled", "filled", "done_for_day", "canceled", "expired", "replaced",
                                 "pending_cancel", "pending_replace", "accepted", "pending_new", "accepted_for_bidding",
                                 "stopped", "rejected", "suspended", "calculated"]},
             "extended_hours": {"type": "boolean"}, "legs": {"type": "array", "nullable": True}}}
ACCOUNT = {"type": "object", "required": ["id", "account_number", "status", "currency", "cash", "buying_power", "equity"],
           "properties": {"id": UUID, "account_number": {"type": "string"}, "status": {"enum": ["ACTIVE"]},
                          "cash": DECIMAL, "buying_power": DECIMAL, "equity": DECIMAL, "portfolio_value": DECIMAL,
                          "pattern_day_trader": {"type": "boolean"}, "daytrade_count": {"type": "integer"}}}
ASSET = {"type": "object",
         "required": ["id", "class", "exchange", "symbol", "name", "status", "tradable", "marginable", "shortable",
                      "easy_to_borrow", "fractionable"],
         "properties": {"id": UUID, "class": {"enum": ["us_equity"]}, "status": {"enum": ["active", "inactive"]},
                        "exchange": {"enum": ["AMEX", "ARCA", "BATS", "NYSE", "NASDAQ", "NYSEARCA", "OTC"]},
                        **{flag: {"type": "boolean"} for flag in
                           ["tradable", "marginable", "shortable", "easy_to_borrow", "fractionable"]}}}
POSITION = {"type": "object",
            "required": ["asset_id", "symbol", "exchange", "asset_class", "avg_entry_price", "qty", "side", "cost_basis",
                         "market_value", "current_price"],
            "properties": {"asset_id": UUID, "side": {"enum": ["long", "short"]},
                           **{field: DECIMAL for field in ["avg_entry_price", "qty", "cost_basis", "market_value", "current_price"]}}}
CLOCK_TIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?-0[45]:00$"}
CLOCK = {"type": "object", "required": ["timestamp", "is_open", "next_open", "next_close"],
         "properties": {"timestamp": CLOCK_TIME, "next_open": CLOCK_TIME, "next_close": CLOCK_TIME, "is_open": {"type": "boolean"}}}
CALENDAR = {"type": "array", "items": {"type": "object", "required": ["date", "open", "close"], "properties": {
    "date": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\d$"}, "open": {"type": "string", "pattern": r"^\d\d:\d\d$"},
    "close": {"type": "string", "pattern": r"^\d\d:\d\d$"}}}}
TRADING_SHAPES = {
    ("GET", "/v2/account", 200): ACCOUNT, ("GET", "/v2/clock", 200): CLOCK, ("GET", "/v2/calendar", 200): CALENDAR,
    ("GET", "/v2/assets", 200): {"type": "array", "items": ASSET}, ("GET", "/v2/assets/{symbol_or_asset_id}", 200): ASSET,
    ("POST", "/v2/orders", 200): ORDER, ("GET", "/v2/orders", 200): {"type": "array", "items": ORDER},
    ("GET", "/v2/orders/{order_id}", 200): ORDER, ("GET", "/v2/orders:by_client_order_id", 200): ORDER,
    ("GET", "/v2/positions", 200): {"type": "array", "items": POSITION},
    ("GET", "/v2/positions/{symbol_or_asset_id}", 200): POSITION,
    ("DELETE", "/v2/orders", 207): {"type": "array", "items": {"type": "object", "required": ["id", "status"],
                                                               "properties": {"id": UUID, "status": {"type": "integer"}}}},
}

# --- Validation ----------------------------------------------------------------------------


class Spec:
    """One OpenAPI document: response schemas by (method, template, status), refs resolved in it."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as file:
            self.document = json.load(file)
        self.uri = f"urn:openapi:{path}"
        resource = Resource.from_contents(self.document, default_specification=DRAFT4)
        self.registry = Registry().with_resource(self.uri, resource)
        self.title = self.document.get("info", {}).get("title", path)

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            node = self.registry.resolver(self.uri).lookup(self.uri + node["$ref"]).contents
        return node

    def absolute(self, node):
        """An inline schema whose `#/...` references point into the document."""
        if isinstance(node, dict):
            return {key: (self.uri + value if key == "$ref" and value.startswith("#") else self.absolute(value))
                    for key, value in node.items()}
        if isinstance(node, list):
            return [self.absolute(item) for item in node]
        return node

    def operation(self, method, template):
        return self.document.get("paths", {}).get(template, {}).get(method.lower())

    def check(self, method, template, reply, problems):
        operation = self.operation(method, template)
        if operation is None:
            problems.append(f"{self.title}: {method} {template} is not in the document")
            return
        responses = operation.get("responses", {})
        declared = responses.get(str(reply.status_code)) or responses.get("default")
        if declared is None:
            problems.append(f"{self.title}: {method} {template} answered {reply.status_code}, "
                            f"the document declares only {sorted(responses)}")
            return
        declared = self.resolve(declared)
        for name, header in (declared.get("headers") or {}).items():
            schema = self.resolve(header).get("schema", {})
            value = reply.headers.get(name)
            if value is None:
                problems.append(f"{self.title}: {method} {template} {reply.status_code}: header {name} missing")
            elif schema.get("type") == "integer" and not re.fullmatch(r"-?[0-9]+", value):
                problems.append(f"{self.title}: {method} {template}: header {name}={value!r} is not an integer")
        schema = ((declared.get("content") or {}).get("application/json") or {}).get("schema")
        if schema is None:
            return
        validator = OAS30Validator(self.absolute(schema), registry=self.registry,
                                   format_checker=OAS30Validator.FORMAT_CHECKER)
        for error in validator.iter_errors(reply.json()):
            where = "/".join("*" if isinstance(part, int) else str(part) for part in error.absolute_path) or "(root)"
            problems.append(f"{self.title}: {method} {template} {reply.status_code} at {where}: {error.message[:300]}")


def check_shape(schema, body, label, problems):
    validator = OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER)
    for error in validator.iter_errors(body):
        where = "/".join("*" if isinstance(part, int) else str(part) for part in error.absolute_path) or "(root)"
        problems.append(f"{label} at {where}: {error.message[:300]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--market-data-spec", required=True)
    parser.add_argument("--trading-spec")
    args = parser.parse_args()
    market_data = Spec(args.market_data_spec)
    trading = Spec(args.trading_spec) if args.trading_spec else None
    session = requests.Session()
    session.headers.update(HEADERS)
    problems, checked = [], 0

    def call(method, template, path, body, specs, shapes):
        nonlocal checked
        reply = session.request(method, args.base + path, json=body, allow_redirects=False)
        before = len(problems)
        if reply.status_code >= 500:
            problems.append(f"{method} {path}: server error {reply.status_code}")
        for spec in specs:
            spec.check(method, template, reply, problems)
        if reply.status_code >= 400:
            check_shape(ERROR, reply.json(), f"{method} {path} {reply.status_code} error body", problems)
        elif shapes and (method, template, reply.status_code) in shapes:
            check_shape(shapes[(method, template, reply.status_code)], reply.json(), f"{method} {template} shape", problems)
        checked += 1
        print(f"{'ok  ' if len(problems) == before else 'FAIL'} {reply.status_code} {method} {path}")
        return reply

    for method, template, path, body in MARKET_DATA_CALLS:
        reply = call(method, template, path, body, [market_data], None)
        pages = 0
        while reply.status_code == 200 and "next_page_token" in reply.json() and reply.json()["next_page_token"] and pages < 10:
            pages += 1
            reply = call(method, template, f"{path}&page_token={reply.json()['next_page_token']}", body, [market_data], None)
    for method, template, path, body in trading_calls(session, args.base):
        call(method, template, path, body, [trading] if trading else [], TRADING_SHAPES)

    specs = market_data.title + (f" and {trading.title}" if trading else "")
    if problems:
        distinct = Counter(problems)
        print(f"\n{len(distinct)} distinct violations ({checked} answers checked against {specs}):", file=sys.stderr)
        for problem, count in distinct.items():
            print(f"  - {problem}" + (f" ({count} times)" if count > 1 else ""), file=sys.stderr)
        sys.exit(1)
    print(f"{checked} answers conform to {specs}; {checked} checks passed")


if __name__ == "__main__":
    main()

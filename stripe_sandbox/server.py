"""A local Stripe-compatible server for tests and demos: the Connect endpoints Shiftline uses.

Speaks Stripe's wire format (form-encoded requests, JSON responses, Stripe's error shape) so the
official SDK talks to it unchanged through `STRIPE_API_BASE`:

- `/v1/accounts` (create, retrieve, update, list), `/v1/account_links` (the link's URL, opened
  with GET, completes onboarding and sends a signed `account.updated`), `/v1/transfers` (create,
  retrieve, list with pagination and `transfer_group`/`destination` filters, metadata) and their
  `/reversals`, `/v1/balance`, `/v1/events` (list, retrieve).
- Stripe's idempotency: the same `Idempotency-Key` with the same parameters replays the first
  response (header `Idempotent-Replayed: true`); with other parameters, 400 `idempotency_error`.
  Concurrent requests with one key are serialised. Injected failures are not stored, like a
  load balancer failing in front of Stripe.
- Signed webhooks (`Stripe-Signature: t=…,v1=HMAC-SHA256(secret, "t.body")`) POSTed to the
  webhook URL from a delivery thread, with retries.

Control endpoints for tests (not Stripe's), under `/_sandbox/`:
- `POST /_sandbox/failures {path, method?, mode, count?, seconds?}`; mode is `500_before` (fail,
  do nothing), `500_after` (do the work, then answer 500), `timeout` (do the work, then hang for
  `seconds`), `delay` (wait `seconds`, then work normally) or `429`. `GET` lists, `DELETE` clears.
- `POST /_sandbox/rate_limit {writes_per_second: 100}` (0 switches it off): Stripe's live-mode
  limit, 429 `rate_limit` beyond it.
- `POST /_sandbox/events {type, object}` sends an arbitrary event; `{resend: "evt_…"}` delivers a
  past event again (a duplicate); `sync: true` delivers before answering.
- `POST /_sandbox/accounts/<id>/status {status: ready|restricted|pending}`;
  `POST /_sandbox/accounts/bulk {count}` makes many onboarded accounts (load tests).
- `GET /_sandbox/transfers?transfer_group=&destination=` (all, with `count`), `GET /_sandbox/stats`,
  `POST /_sandbox/webhook {url}`, `POST /_sandbox/reset`, `GET /_sandbox/health`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import re
import secrets
import threading
import time
import urllib.request
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger("stripe_sandbox")

API_VERSION = "2025-10-29.clover"
PLATFORM_BALANCE = 10**12


class StripeHTTPError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding: `a[b][c]=1`, `items[0][x]=1`, `expand[]=y` into nested values."""
    root: dict = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if match is None:
            root[key] = value
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for i, part in enumerate(parts):
            if part == "":
                part = str(len(node))
            if i == len(parts) - 1:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return _listify(root)


def _listify(node):
    if isinstance(node, dict):
        if "__list__" in node and len(node) == 1:
            return node["__list__"]
        if node and all(k.isdigit() for k in node):
            return [_listify(node[k]) for k in sorted(node, key=int)]
        return {k: _listify(v) for k, v in node.items()}
    return node


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


class RateLimiter:
    """A token bucket: `rate` writes a second, bursts up to `rate`."""

    def __init__(self, rate: float = 0) -> None:
        self.lock = threading.Lock()
        self.set(rate)

    def set(self, rate: float) -> None:
        with self.lock:
            self.rate = float(rate)
            self.tokens = self.rate
            self.updated = time.monotonic()

    def allow(self) -> bool:
        with self.lock:
            if self.rate <= 0:
                return True
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class SandboxState:
    """Everything the sandbox knows, guarded by one lock (operations are tiny)."""

    def __init__(self, webhook_url: str, webhook_secret: str) -> None:
        self.lock = threading.RLock()
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.limiter = RateLimiter(0)
        self.deliveries: queue.Queue = queue.Queue()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.accounts: dict[str, dict] = {}
            self.transfers: dict[str, dict] = {}
            self.transfer_order: list[str] = []
            self.account_order: list[str] = []
            self.events: dict[str, dict] = {}
            self.event_order: list[str] = []
            self.links: dict[str, dict] = {}
            self.idempotency: dict[str, dict] = {}
            self.key_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
            self.failures: deque[dict] = deque()
            self.balance = PLATFORM_BALANCE
            self.seq = 0
            self.stats: dict[str, int] = defaultdict(int)

    # What survives a restart with `--state-file` (make run's demo): the objects and their order,
    # the balance, the id counter and stored idempotent answers; not links, failures or counters.
    PERSISTED = ("accounts", "account_order", "transfers", "transfer_order", "events", "event_order",
                 "idempotency", "balance", "seq")

    def save(self, path: Path) -> None:
        with self.lock:
            data = json.dumps({name: getattr(self, name) for name in self.PERSISTED})
        partial = path.with_suffix(".partial")
        partial.write_text(data)
        partial.replace(path)

    def load(self, path: Path) -> None:
        if not path.exists():
            return
        data = json.loads(path.read_text())
        with self.lock:
            for name in self.PERSISTED:
                if name in data:
                    setattr(self, name, data[name])

    def next_id(self, prefix: str) -> str:
        with self.lock:
            self.seq += 1
            return f"{prefix}_{self.seq:08d}{secrets.token_hex(6)}"

    # --- failures -------------------------------------------------------------------------

    def take_failure(self, method: str, path: str) -> dict | None:
        with self.lock:
            for rule in list(self.failures):
                if rule.get("method", "POST").upper() not in (method, "*"):
                    continue
                if not path.startswith(rule["path"]):
                    continue
                rule["count"] -= 1
                if rule["count"] <= 0:
                    self.failures.remove(rule)
                self.stats[f"injected_{rule['mode']}"] += 1
                return dict(rule)
        return None

    # --- events and webhooks -------------------------------------------------------------

    def record_event(self, type_: str, obj: dict, *, request: dict | None = None,
                     previous: dict | None = None) -> dict:
        with self.lock:
            event: dict[str, Any] = {
                "id": self.next_id("evt"), "object": "event", "api_version": API_VERSION,
                "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
                "request": request or {"id": None, "idempotency_key": None}, "type": type_,
                "data": {"object": json.loads(json.dumps(obj))},
            }
            if previous:
                event["data"]["previous_attributes"] = previous
            self.events[event["id"]] = event
            self.event_order.append(event["id"])
            return event

    def deliver(self, event: dict, *, sync: bool = False) -> int | None:
        if not self.webhook_url:
            return None
        if sync:
            return self._post_webhook(event)
        self.deliveries.put(event)
        return None

    def _post_webhook(self, event: dict, attempts: int = 4) -> int:
        payload = json.dumps(event).encode()
        status = 0
        for attempt in range(attempts):
            request = urllib.request.Request(
                self.webhook_url, data=payload, method="POST",
                headers={"Content-Type": "application/json; charset=utf-8",
                         "Stripe-Signature": sign(payload, self.webhook_secret),
                         "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) shiftline-sandbox"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # nosec B310 # the webhook URL the sandbox was started with (dev-only tool)
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            if 200 <= status < 300:
                with self.lock:
                    self.stats["webhooks_delivered"] += 1
                return status
            with self.lock:
                self.stats["webhooks_failed_attempts"] += 1
            time.sleep(min(2.0, 0.2 * 2**attempt))
        return status

    def delivery_loop(self) -> None:
        while True:
            event = self.deliveries.get()
            if event is None:
                return
            try:
                self._post_webhook(event)
            except Exception:  # the loop must survive anything
                logger.exception("webhook delivery failed")


def _list(items: list[dict], url: str, params: dict) -> dict:
    """Stripe's cursor pagination over `items` (already newest first)."""
    try:
        limit = max(1, min(100, int(params.get("limit") or 10)))
    except ValueError as exc:
        raise StripeHTTPError(400, "Invalid integer: limit", param="limit") from exc
    ids = [item["id"] for item in items]
    start = 0
    if params.get("starting_after"):
        if params["starting_after"] not in ids:
            raise StripeHTTPError(400, "No such object for starting_after", param="starting_after")
        start = ids.index(params["starting_after"]) + 1
    elif params.get("ending_before"):
        if params["ending_before"] not in ids:
            raise StripeHTTPError(400, "No such object for ending_before", param="ending_before")
        end = ids.index(params["ending_before"])
        start = max(0, end - limit)
        page = items[start:end]
        return {"object": "list", "url": url, "has_more": start > 0, "data": page}
    page = items[start:start + limit]
    return {"object": "list", "url": url, "has_more": start + limit < len(items), "data": page}


class Api:
    """The Stripe endpoints. Each handler returns (status, body) or raises StripeHTTPError."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    # accounts ---------------------------------------------------------------------------

    def account_create(self, params: dict, ctx: dict) -> dict:
        state = self.state
        with state.lock:
            account = {
                "id": state.next_id("acct"), "object": "account", "type": params.get("type", "none"),
                "country": params.get("country", "PT"), "email": params.get("email"),
                "default_currency": "eur", "created": int(time.time()),
                "controller": params.get("controller") or {"type": "application"},
                "capabilities": {name: "inactive" for name in (params.get("capabilities") or {"transfers": {}})},
                "charges_enabled": False, "payouts_enabled": False, "details_submitted": False,
                "requirements": {"currently_due": ["external_account", "tos_acceptance.date"],
                                 "eventually_due": [], "past_due": [], "disabled_reason": None},
                "metadata": params.get("metadata") or {},
            }
            state.accounts[account["id"]] = account
            state.account_order.append(account["id"])
            return account

    def account_get(self, account_id: str) -> dict:
        account = self.state.accounts.get(account_id)
        if account is None:
            raise StripeHTTPError(404, f"No such account: '{account_id}'", code="resource_missing", param="id")
        return account

    def account_update(self, account_id: str, params: dict, ctx: dict) -> dict:
        with self.state.lock:
            account = self.account_get(account_id)
            if "metadata" in params:
                account["metadata"].update(params["metadata"] or {})
            if "email" in params:
                account["email"] = params["email"]
            return account

    def account_set_status(self, account_id: str, status: str, *, sync: bool = True) -> tuple[dict, int | None]:
        with self.state.lock:
            account = self.account_get(account_id)
            previous = {"capabilities": dict(account["capabilities"]),
                        "payouts_enabled": account["payouts_enabled"]}
            requirements = account["requirements"]
            if status == "ready":
                account.update(details_submitted=True, charges_enabled=True, payouts_enabled=True)
                account["capabilities"] = ({name: "active" for name in account["capabilities"]}
                                           or {"transfers": "active"})
                requirements.update(currently_due=[], past_due=[], disabled_reason=None)
            elif status == "restricted":
                account.update(details_submitted=True, payouts_enabled=False, charges_enabled=False)
                account["capabilities"] = {name: "inactive" for name in account["capabilities"]}
                requirements.update(past_due=["individual.verification.document"],
                                    disabled_reason="requirements.past_due")
            elif status == "pending":
                account.update(details_submitted=False, payouts_enabled=False, charges_enabled=False)
                account["capabilities"] = {name: "inactive" for name in account["capabilities"]}
                requirements.update(disabled_reason=None)
            else:
                raise StripeHTTPError(400, "status is ready, restricted or pending", param="status")
            event = self.state.record_event("account.updated", account, previous=previous)
        return account, self.state.deliver(event, sync=sync)

    def account_link_create(self, params: dict, ctx: dict) -> dict:
        account_id = params.get("account")
        if not account_id:
            raise StripeHTTPError(400, "Missing required param: account.", param="account")
        self.account_get(account_id)
        for name in ("refresh_url", "return_url"):
            if not params.get(name):
                raise StripeHTTPError(400, f"Missing required param: {name}.", param=name)
        token = secrets.token_urlsafe(16)
        created = int(time.time())
        with self.state.lock:
            self.state.links[token] = {"account": account_id, "refresh_url": params["refresh_url"],
                                       "return_url": params["return_url"], "used": False,
                                       "expires_at": created + 300}
        return {"object": "account_link", "created": created, "expires_at": created + 300,
                "url": f"{ctx['base']}/_sandbox/onboard/{token}"}

    # transfers --------------------------------------------------------------------------

    def transfer_create(self, params: dict, ctx: dict) -> dict:
        state = self.state
        try:
            amount = int(params.get("amount", ""))
        except ValueError as exc:
            raise StripeHTTPError(400, "Invalid integer: amount", param="amount") from exc
        if amount <= 0:
            raise StripeHTTPError(400, "This value must be greater than or equal to 1.", param="amount")
        currency = str(params.get("currency") or "").lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeHTTPError(400, "Invalid currency", param="currency")
        destination = params.get("destination")
        if not destination:
            raise StripeHTTPError(400, "Missing required param: destination.", param="destination")
        with state.lock:
            account = state.accounts.get(destination)
            if account is None:
                raise StripeHTTPError(400, f"No such destination: '{destination}'", code="resource_missing",
                                      param="destination")
            if account["capabilities"].get("transfers") != "active":
                raise StripeHTTPError(
                    400, "Your destination account needs to have at least one of the following "
                         "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                    code="insufficient_capabilities_for_transfer", param="destination")
            if state.balance < amount:
                raise StripeHTTPError(400, "You have insufficient available funds in your Stripe account.",
                                      code="balance_insufficient")
            state.balance -= amount
            transfer_id = state.next_id("tr")
            transfer = {
                "id": transfer_id, "object": "transfer", "amount": amount, "amount_reversed": 0,
                "balance_transaction": state.next_id("txn"), "created": int(time.time()),
                "currency": currency, "description": params.get("description"),
                "destination": destination, "destination_payment": state.next_id("py"),
                "livemode": False, "metadata": params.get("metadata") or {},
                "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                              "url": f"/v1/transfers/{transfer_id}/reversals"},
                "reversed": False, "source_transaction": None, "source_type": "card",
                "transfer_group": params.get("transfer_group"),
            }
            state.transfers[transfer_id] = transfer
            state.transfer_order.append(transfer_id)
            state.stats["transfers_created"] += 1
            event = state.record_event("transfer.created", transfer, request=ctx.get("request"))
        state.deliver(event)
        return transfer

    def transfer_get(self, transfer_id: str) -> dict:
        transfer = self.state.transfers.get(transfer_id)
        if transfer is None:
            raise StripeHTTPError(404, f"No such transfer: '{transfer_id}'", code="resource_missing", param="id")
        return transfer

    def transfer_update(self, transfer_id: str, params: dict, ctx: dict) -> dict:
        with self.state.lock:
            transfer = self.transfer_get(transfer_id)
            if "metadata" in params:
                transfer["metadata"].update(params["metadata"] or {})
            if "description" in params:
                transfer["description"] = params["description"]
            event = self.state.record_event("transfer.updated", transfer, request=ctx.get("request"))
        self.state.deliver(event)
        return transfer

    def transfers_filtered(self, params: dict) -> list[dict]:
        with self.state.lock:
            items = [self.state.transfers[i] for i in reversed(self.state.transfer_order)]
        if params.get("transfer_group"):
            items = [t for t in items if t["transfer_group"] == params["transfer_group"]]
        if params.get("destination"):
            items = [t for t in items if t["destination"] == params["destination"]]
        return items

    def reversal_create(self, transfer_id: str, params: dict, ctx: dict) -> dict:
        state = self.state
        with state.lock:
            transfer = self.transfer_get(transfer_id)
            remaining = transfer["amount"] - transfer["amount_reversed"]
            try:
                amount = int(params.get("amount") or remaining)
            except ValueError as exc:
                raise StripeHTTPError(400, "Invalid integer: amount", param="amount") from exc
            if remaining <= 0:
                raise StripeHTTPError(400, f"Transfer {transfer_id} is already fully reversed.",
                                      code="transfer_already_reversed")
            if amount <= 0 or amount > remaining:
                raise StripeHTTPError(400, "The reversal amount exceeds what remains of the transfer.",
                                      param="amount")
            reversal = {
                "id": state.next_id("trr"), "object": "transfer_reversal", "amount": amount,
                "balance_transaction": state.next_id("txn"), "created": int(time.time()),
                "currency": transfer["currency"], "destination_payment_refund": state.next_id("pyr"),
                "metadata": params.get("metadata") or {}, "source_refund": None, "transfer": transfer_id,
            }
            transfer["amount_reversed"] += amount
            transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
            transfer["reversals"]["data"].insert(0, reversal)
            transfer["reversals"]["total_count"] += 1
            state.balance += amount
            state.stats["reversals_created"] += 1
            event = state.record_event("transfer.reversed", transfer, request=ctx.get("request"),
                                       previous={"amount_reversed": transfer["amount_reversed"] - amount})
        state.deliver(event)
        return reversal

    def balance(self) -> dict:
        amount = self.state.balance
        return {"object": "balance", "livemode": False,
                "available": [{"amount": amount, "currency": "eur", "source_types": {"card": amount}}],
                "pending": [{"amount": 0, "currency": "eur", "source_types": {"card": 0}}],
                "connect_reserved": [{"amount": 0, "currency": "eur"}]}

    # routing ----------------------------------------------------------------------------

    def route(self, method: str, path: str, params: dict, ctx: dict) -> tuple[int, dict]:
        state = self.state
        parts = [p for p in path.split("/") if p][1:]  # drop "v1"
        if method == "POST":
            if parts == ["accounts"]:
                return 200, self.account_create(params, ctx)
            if len(parts) == 2 and parts[0] == "accounts":
                return 200, self.account_update(parts[1], params, ctx)
            if parts == ["account_links"]:
                return 200, self.account_link_create(params, ctx)
            if parts == ["transfers"]:
                return 200, self.transfer_create(params, ctx)
            if len(parts) == 2 and parts[0] == "transfers":
                return 200, self.transfer_update(parts[1], params, ctx)
            if len(parts) == 3 and parts[0] == "transfers" and parts[2] == "reversals":
                return 200, self.reversal_create(parts[1], params, ctx)
        elif method == "GET":
            if parts == ["accounts"]:
                with state.lock:
                    items = [state.accounts[i] for i in reversed(state.account_order)]
                return 200, _list(items, "/v1/accounts", params)
            if len(parts) == 2 and parts[0] == "accounts":
                return 200, self.account_get(parts[1])
            if parts == ["transfers"]:
                return 200, _list(self.transfers_filtered(params), "/v1/transfers", params)
            if len(parts) == 2 and parts[0] == "transfers":
                return 200, self.transfer_get(parts[1])
            if len(parts) == 3 and parts[0] == "transfers" and parts[2] == "reversals":
                transfer = self.transfer_get(parts[1])
                return 200, _list(list(transfer["reversals"]["data"]), path, params)
            if len(parts) == 4 and parts[0] == "transfers" and parts[2] == "reversals":
                transfer = self.transfer_get(parts[1])
                for reversal in transfer["reversals"]["data"]:
                    if reversal["id"] == parts[3]:
                        return 200, reversal
                raise StripeHTTPError(404, f"No such transfer reversal: '{parts[3]}'", code="resource_missing")
            if parts == ["balance"]:
                return 200, self.balance()
            if parts == ["events"]:
                with state.lock:
                    items = [state.events[i] for i in reversed(state.event_order)]
                if params.get("type"):
                    items = [e for e in items if e["type"] == params["type"]]
                return 200, _list(items, "/v1/events", params)
            if len(parts) == 2 and parts[0] == "events":
                event = state.events.get(parts[1])
                if event is None:
                    raise StripeHTTPError(404, f"No such event: '{parts[1]}'", code="resource_missing")
                return 200, event
        raise StripeHTTPError(404, f"Unrecognized request URL ({method}: {path}).")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        logger.debug("%s %s", self.address_string(), format % args)

    # plumbing ---------------------------------------------------------------------------

    def _send(self, status: int, body: dict | str, headers: dict | None = None,
              content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _base(self) -> str:
        return f"http://{self.headers.get('Host') or f'127.0.0.1:{self.server.server_port}'}"

    def do_GET(self):  # noqa: N802
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._body()
        try:
            if url.path.startswith("/_sandbox/"):
                self._control(method, url.path, url.query, body)
            elif url.path.startswith("/v1/"):
                self._stripe(method, url.path, url.query, body)
            else:
                self._send(404, StripeHTTPError(404, f"Unrecognized request URL ({method}: {url.path}).").body())
        except (BrokenPipeError, ConnectionResetError):
            pass

    # Stripe API -------------------------------------------------------------------------

    def _stripe(self, method: str, path: str, query: str, body: bytes) -> None:
        state = self.server.state
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer sk_"):
            err = StripeHTTPError(401, "Invalid API Key provided.", type_="invalid_request_error")
            self._send(401, err.body())
            return
        params = decode_form(parse_qsl(query, keep_blank_values=True))
        if method == "POST":
            params.update(decode_form(parse_qsl(body.decode(), keep_blank_values=True)))
        with state.lock:
            state.stats["requests"] += 1
            if method == "POST":
                state.stats["writes"] += 1
        if method == "POST" and not state.limiter.allow():
            with state.lock:
                state.stats["rate_limited"] += 1
            self._send(429, StripeHTTPError(429, "Too many requests hit the API too quickly.",
                                            code="rate_limit").body())
            return
        failure = state.take_failure(method, path)
        if failure and failure["mode"] == "delay":
            time.sleep(float(failure.get("seconds") or 1))
            failure = None
        if failure and failure["mode"] == "500_before":
            self._send(500, StripeHTTPError(500, "An unknown error occurred (injected).",
                                            type_="api_error").body())
            return
        if failure and failure["mode"] == "429":
            self._send(429, StripeHTTPError(429, "Too many requests (injected).", code="rate_limit").body())
            return
        key = self.headers.get("Idempotency-Key") if method == "POST" else None
        if key:
            status, response, replayed = self._idempotent(key, method, path, params)
        else:
            status, response = self._execute(method, path, params, None)
            replayed = False
        if failure and failure["mode"] == "500_after":
            self._send(500, StripeHTTPError(500, "An unknown error occurred (injected, after the work).",
                                            type_="api_error").body())
            return
        if failure and failure["mode"] == "timeout":
            time.sleep(float(failure.get("seconds") or 30))
        headers = {"Idempotency-Key": key} if key else {}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
            with state.lock:
                state.stats["idempotent_replays"] += 1
        self._send(status, response, headers)

    def _execute(self, method: str, path: str, params: dict, key: str | None) -> tuple[int, dict]:
        ctx = {"base": self._base(), "request": {"id": f"req_{secrets.token_hex(7)}", "idempotency_key": key}}
        try:
            return self.server.api.route(method, path, params, ctx)
        except StripeHTTPError as exc:
            return exc.status, exc.body()

    def _idempotent(self, key: str, method: str, path: str, params: dict) -> tuple[int, dict, bool]:
        state = self.server.state
        fingerprint = hashlib.sha256(json.dumps([method, path, params], sort_keys=True).encode()).hexdigest()
        with state.lock:
            key_lock = state.key_locks[key]
        with key_lock:  # concurrent requests with one key: the second waits, then replays
            stored = state.idempotency.get(key)
            if stored is not None:
                if stored["fingerprint"] != fingerprint:
                    err = StripeHTTPError(
                        400, "Keys for idempotent requests can only be used with the same parameters "
                             f"they were first used with. Try using a key other than '{key}' if you "
                             "meant to execute a different request.", type_="idempotency_error")
                    return 400, err.body(), False
                return stored["status"], stored["body"], True
            status, body = self._execute(method, path, params, key)
            state.idempotency[key] = {"fingerprint": fingerprint, "status": status, "body": body}
            return status, body, False

    # control ----------------------------------------------------------------------------

    def _json(self, body: bytes) -> dict:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _control(self, method: str, path: str, query: str, body: bytes) -> None:
        state, api = self.server.state, self.server.api
        params = dict(parse_qsl(query))
        parts = [p for p in path.split("/") if p][1:]
        data = self._json(body) if method == "POST" else {}
        try:
            if parts == ["health"]:
                return self._send(200, {"status": "ok"})
            if len(parts) == 2 and parts[0] == "onboard" and method == "GET":
                return self._onboard(parts[1])
            if parts == ["failures"]:
                if method == "POST":
                    mode = data.get("mode")
                    if mode not in ("500_before", "500_after", "timeout", "delay", "429"):
                        return self._send(400, {"error": "mode is 500_before, 500_after, timeout, delay or 429"})
                    rule = {"path": data.get("path") or "/v1/", "method": (data.get("method") or "POST").upper(),
                            "mode": mode, "count": int(data.get("count") or 1), "seconds": data.get("seconds")}
                    with state.lock:
                        state.failures.append(rule)
                    return self._send(200, rule)
                if method == "DELETE":
                    with state.lock:
                        state.failures.clear()
                    return self._send(200, {"cleared": True})
                with state.lock:
                    return self._send(200, {"data": list(state.failures)})
            if parts == ["rate_limit"] and method == "POST":
                rate = float(data.get("writes_per_second") or 0) if data.get("enabled", True) else 0.0
                state.limiter.set(rate)
                return self._send(200, {"writes_per_second": rate})
            if parts == ["transfers"]:
                items = api.transfers_filtered(params)
                return self._send(200, {"count": len(items), "data": items})
            if parts == ["stats"]:
                with state.lock:
                    stats = dict(state.stats)
                    stats.update(transfers=len(state.transfers), accounts=len(state.accounts),
                                 events=len(state.events), balance=state.balance,
                                 webhooks_queued=state.deliveries.qsize())
                return self._send(200, stats)
            if parts == ["webhook"] and method == "POST":
                state.webhook_url = data.get("url") or ""
                return self._send(200, {"url": state.webhook_url})
            if parts == ["reset"] and method == "POST":
                state.reset()
                state.limiter.set(0)
                return self._send(200, {"reset": True})
            if parts == ["events"] and method == "POST":
                sync = bool(data.get("sync"))
                if data.get("resend"):
                    event = state.events.get(data["resend"])
                    if event is None:
                        return self._send(404, {"error": "no such event"})
                else:
                    obj = data.get("object")
                    if obj is None and data.get("transfer"):
                        obj = api.transfer_get(data["transfer"])
                    if obj is None and data.get("account"):
                        obj = api.account_get(data["account"])
                    if not data.get("type") or not isinstance(obj, dict):
                        return self._send(400, {"error": "give type and object (or transfer / account)"})
                    event = state.record_event(data["type"], obj)
                delivered = state.deliver(event, sync=sync)
                return self._send(200, {"event": event, "webhook_status": delivered})
            if parts == ["accounts", "bulk"] and method == "POST":
                # Many onboarded accounts at once, for load tests (no events are sent).
                ids = []
                for _ in range(min(int(data.get("count") or 1), 100_000)):
                    account = api.account_create({"country": "PT", "metadata": data.get("metadata") or {}}, {})
                    if data.get("status", "ready") == "ready":
                        account.update(details_submitted=True, charges_enabled=True, payouts_enabled=True)
                        account["capabilities"] = {"transfers": "active"}
                        account["requirements"].update(currently_due=[])
                    ids.append(account["id"])
                return self._send(200, {"ids": ids})
            if len(parts) == 3 and parts[0] == "accounts" and parts[2] == "status" and method == "POST":
                account, delivered = api.account_set_status(parts[1], data.get("status", ""),
                                                            sync=data.get("sync", True))
                return self._send(200, {"account": account, "webhook_status": delivered})
        except StripeHTTPError as exc:
            return self._send(exc.status, exc.body())
        return self._send(404, {"error": f"no control endpoint {method} {path}"})

    def _onboard(self, token: str) -> None:
        """Opening an account link: completes onboarding, sends `account.updated` (before the
        redirect, so the return page already shows the new status) and returns to Shiftline."""
        state, api = self.server.state, self.server.api
        with state.lock:
            link = state.links.get(token)
            if link is None:
                return self._send(404, "<h1>Unknown or expired onboarding link</h1>", content_type="text/html")
            used, link["used"] = link["used"], True
        if used or link["expires_at"] < time.time():
            return self._send(302, "", {"Location": link["refresh_url"]}, content_type="text/html")
        api.account_set_status(link["account"], "ready", sync=True)
        self._send(302, "", {"Location": link["return_url"]}, content_type="text/html")


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], *, webhook_url: str, webhook_secret: str,
                 writes_per_second: float = 0) -> None:
        super().__init__(address, Handler)
        self.state = SandboxState(webhook_url, webhook_secret)
        self.state.limiter.set(writes_per_second)
        self.api = Api(self.state)
        self._delivery = threading.Thread(target=self.state.delivery_loop, name="webhooks", daemon=True)
        self._delivery.start()


def serve(host: str, port: int, *, webhook_url: str, webhook_secret: str, writes_per_second: float = 0,
          ready: threading.Event | None = None) -> SandboxServer:
    server = SandboxServer((host, port), webhook_url=webhook_url, webhook_secret=webhook_secret,
                           writes_per_second=writes_per_second)
    if ready is not None:
        ready.set()
    return server

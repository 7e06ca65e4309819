"""Clients and checks for the contract tests: plain HTTP (httpx) and websockets, as outside clients."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import re
import time
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import connect

PASSWORD = "Corr3ct-horse-battery"
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{int(time.time() * 1000) % 10_000_000}{next(_names)}"


class Api:
    """An HTTP client of the public API, optionally authenticated (`Token`) or a customer (`X-Ticket-Token`)."""

    def __init__(self, base_url: str, token: str | None = None, ticket_token: str | None = None) -> None:
        headers = {}
        if token:
            headers["Authorization"] = f"Token {token}"
        if ticket_token:
            headers["X-Ticket-Token"] = ticket_token
        self.token = token
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)
        self.id: int | None = None
        self.username: str | None = None

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, json_body: Any = None, **kwargs) -> httpx.Response:
        return self.http.post(path, json=json_body, **kwargs)

    def put(self, path: str, json_body: Any = None, **kwargs) -> httpx.Response:
        return self.http.put(path, json=json_body, **kwargs)


def body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AssertionError(f"{response.request.method} {response.request.url} → {response.status_code}, "
                             f"not JSON: {response.text[:500]!r}")


def ok(response: httpx.Response, status: int = 200) -> Any:
    body = body_of(response)
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} → {response.status_code} (wanted {status}): {body}")
    return body


def error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The error shape: `{"code": snake_case, "detail": sentence}` (+ `fields` for `invalid`)."""
    body = body_of(response)
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} → {response.status_code} (wanted {status}): {body}")
    assert isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("detail"), str), body
    assert re.fullmatch(r"[a-z][a-z0-9_]*", body["code"]), body
    assert body["detail"].strip(), body
    if code is not None:
        assert body["code"] == code, body
    if body["code"] == "invalid":
        assert status == 400, body
        assert isinstance(body.get("fields"), dict) and body["fields"], body
        for name, messages in body["fields"].items():
            assert isinstance(name, str) and isinstance(messages, list) and messages, body
            assert all(isinstance(m, str) for m in messages), body
    return body


def invalid(response: httpx.Response, *field_names: str) -> dict:
    body = error(response, 400, "invalid")
    for name in field_names:
        assert name in body["fields"], body
    return body


def page(body: Any) -> list:
    """A paginated list: `{"results": [...], "next": url|null, "count": N}`."""
    assert isinstance(body, dict), body
    assert {"results", "next", "count"} <= set(body), body
    assert isinstance(body["results"], list) and isinstance(body["count"], int), body
    assert body["next"] is None or isinstance(body["next"], str), body
    return body["results"]


def iso(value: Any) -> dt.datetime:
    """An ISO 8601 time with an offset."""
    assert isinstance(value, str), value
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None and parsed.utcoffset() is not None, f"{value!r} has no offset"
    return parsed


def iso_or_none(value: Any) -> dt.datetime | None:
    return None if value is None else iso(value)


def money(amount: Any, currency: Any) -> None:
    assert isinstance(amount, int) and not isinstance(amount, bool), amount
    assert isinstance(currency, str) and re.fullmatch(r"[a-z]{3}", currency), currency


def wait_for(predicate, timeout: float = 20, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


# --- accounts --------------------------------------------------------------------------------


def login(url: str, username: str, password: str = PASSWORD) -> Api:
    response = httpx.post(f"{url}/api/v1/auth/token/", json={"username": username, "password": password}, timeout=30)
    body = ok(response)
    assert set(body) >= {"token", "user"} and isinstance(body["token"], str) and body["token"], body
    assert set(body["user"]) >= {"id", "username", "role"}, body
    assert body["user"]["username"] == username, body
    api = Api(url, token=body["token"])
    api.id, api.username, api.role = body["user"]["id"], username, body["user"]["role"]
    return api


def token_api(url: str, user) -> Api:
    """An Api client with the user's API token, minted directly (what `POST /auth/token/` returns)."""
    from tests.factories.accounts import api_token_for

    api = Api(url, token=api_token_for(user))
    api.id, api.username, api.role = user.pk, user.username, user.role
    return api


def staff(url: str, role: str, via_login: bool = False) -> Api:
    """A staff account as `python manage.py create_staff --role R --username U --password P` makes it.

    `via_login`: run the command itself and sign in through `POST /api/v1/auth/token/`; otherwise
    the staff factory (same model rows, its password hashed once per run) and a token minted
    directly, to keep the suite fast (each password hash costs ~0.5 s).
    """
    username = unique(role)
    if via_login:
        from django.core.management import call_command

        call_command("create_staff", "--role", role, "--username", username, "--password", PASSWORD,
                     "--email", f"{username}@example.com")
        api = login(url, username)
        assert api.role == role
        return api
    from tests.factories.workers import StaffFactory

    return token_api(url, StaffFactory(username=username, role=role))


def application(**overrides) -> dict:
    username = overrides.pop("username", None) or unique("worker")
    body = {"username": username, "password": PASSWORD, "email": f"{username}@example.com",
            "full_name": f"Worker {username.title()}", "country": "PT", "timezone": "Europe/Lisbon",
            "languages": ["en"], "skills": ["general", "payments"]}
    body.update(overrides)
    return body


def apply(url: str, via_login: bool = False, **overrides) -> tuple[dict, Api]:
    """Apply through `POST /api/v1/workers/applications/`; sign in (or mint the token directly)."""
    body = application(**overrides)
    created = ok(httpx.post(f"{url}/api/v1/workers/applications/", json=body, timeout=30), 201)
    assert created["status"] == "applied", created
    if via_login:
        api = login(url, body["username"])
    else:
        from workers.models import User

        api = token_api(url, User.objects.get(pk=created["id"]))
    assert api.id == created["id"]
    return created, api


def approved_worker(url: str, ops: Api, **overrides) -> Api:
    created, api = apply(url, **overrides)
    approved = ok(ops.post(f"/api/v1/workers/{created['id']}/approve/", {}))
    assert approved["status"] == "approved", approved
    return api


def shift_body(*, start_in_minutes: float = -1, hours: float = 2, capacity: int = 5, language: str = "en",
               skills: list[str] | None = None, rate_multiplier: str = "1.00") -> dict:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=start_in_minutes)
    return {"starts_at": start.isoformat(), "ends_at": (start + dt.timedelta(hours=hours)).isoformat(),
            "capacity": capacity, "language": language, "skills": skills if skills is not None else ["general"],
            "rate_multiplier": rate_multiplier}


def create_shift(ops: Api, **kwargs) -> dict:
    shift = ok(ops.post("/api/v1/shifts/", shift_body(**kwargs)), 201)
    assert shift["seats_taken"] == 0, shift
    return shift


def on_shift_worker(url: str, ops: Api, **kwargs) -> tuple[Api, dict]:
    """An approved worker who claimed a shift running now and checked in (not connected yet)."""
    worker = approved_worker(url, ops, **{k: v for k, v in kwargs.items() if k in ("languages", "skills")})
    shift = create_shift(ops, **{k: v for k, v in kwargs.items() if k not in ("languages", "skills")})
    ok(worker.post(f"/api/v1/shifts/{shift['id']}/claim/"), 201)
    ok(worker.post(f"/api/v1/shifts/{shift['id']}/check-in/"))
    return worker, shift


def open_ticket(url: str, **overrides) -> dict:
    body = {"name": "Ana Customer", "email": "ana@example.com", "language": "en", "topic": "general",
            "message": "My payment failed twice."}
    body.update(overrides)
    created = ok(httpx.post(f"{url}/api/v1/tickets/", json=body, timeout=30), 201)
    assert {"id", "token", "status", "queue_position", "ws_url"} <= set(created), created
    return created


# --- websockets ------------------------------------------------------------------------------


async def recv(ws, timeout: float = 10) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_type(ws, kind: str, timeout: float = 10, skip: tuple[str, ...] = ()) -> dict:
    """The next event of `kind`, skipping typing, queue positions and `skip` (anything else fails)."""
    deadline = time.monotonic() + timeout
    while True:
        event = await recv(ws, max(deadline - time.monotonic(), 0.01))
        if event["type"] == kind:
            return event
        assert event["type"] in ("typing", "queue.position", *skip), f"wanted {kind}, got {event}"


async def frames(ws, within: float = 0.5, ignore: tuple[str, ...] = ("queue.position", "typing")) -> list[dict]:
    out = []
    try:
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), within))
            if event["type"] not in ignore:
                out.append(event)
    except TimeoutError:
        return out


async def refused(uri: str, **kwargs) -> int:
    """The HTTP status of a handshake refused before accept (fails if the socket was accepted)."""
    try:
        async with connect(uri, open_timeout=10, **kwargs) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 1)
            except websockets.exceptions.ConnectionClosed as exc:
                raise AssertionError(f"{uri} was accepted, then closed ({exc})")
            except TimeoutError:
                pass
    except websockets.exceptions.InvalidStatus as exc:
        return exc.response.status_code
    raise AssertionError(f"{uri} was accepted")


__all__ = ["connect", "websockets"]

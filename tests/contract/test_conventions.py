"""API.md "Conventions": public endpoints, authentication and roles, the error shape, bad input,
query parameter validation and list shapes, on the real server."""

from __future__ import annotations

import httpx
import pytest

from tests.contract.helpers import (
    Api,
    apply,
    approved_worker,
    create_shift,
    error,
    invalid,
    ok,
    open_ticket,
    page,
    staff,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_healthz_schema_and_docs_are_public(stack, asgi_server_factory):
    health = httpx.get(f"{stack.url}/healthz", timeout=30)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok", "broker": "ok"}}

    schema = httpx.get(f"{stack.url}/api/v1/schema/", timeout=30)
    assert schema.status_code == 200, schema.text[:300]
    assert "openapi: 3" in schema.text or '"openapi": "3' in schema.text, schema.text[:200]
    for path in ("/api/v1/tickets/", "/api/v1/shifts/{shift_id}/claim/", "/api/v1/payouts/runs/",
                 "/api/v1/reports/payouts/"):
        assert path in schema.text, path
    docs = httpx.get(f"{stack.url}/api/v1/docs/", timeout=30)
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]

    error(httpx.get(f"{stack.url}/api/v1/no-such-endpoint/", timeout=30), 404)

    # 503 with the failing checks named when a dependency is down (here Redis: layer and broker).
    broken = asgi_server_factory(REDIS_URL="redis://127.0.0.1:1/0")
    response = httpx.get(f"{broken.url}/healthz", timeout=30)
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] != "ok" and body["checks"]["database"] == "ok", body
    assert body["checks"]["channel_layer"] != "ok" and body["checks"]["broker"] != "ok", body


def test_authentication_roles_and_error_shape(stack):
    url = stack.url
    ops, finance, admin = staff(url, "ops"), staff(url, "finance"), staff(url, "admin")
    worker = approved_worker(url, ops)
    anonymous = Api(url)

    # Unauthenticated: 401 everywhere staff or workers are needed; a wrong token is 401 too.
    for path in ("/api/v1/workers/", "/api/v1/workers/me/", "/api/v1/shifts/", "/api/v1/tickets/",
                 "/api/v1/payouts/balance/", "/api/v1/payouts/earnings/", "/api/v1/payouts/",
                 "/api/v1/payouts/rate-card/", "/api/v1/reports/operations/?from=2026-01-01&to=2026-01-02"):
        error(anonymous.get(path), 401)
        error(Api(url, token="0" * 40).get(path), 401)
    error(anonymous.post("/api/v1/shifts/", {}), 401)
    error(anonymous.post("/api/v1/payouts/runs/"), 401)

    # Bad credentials never sign in (4xx in the error shape).
    bad = httpx.post(f"{url}/api/v1/auth/token/", json={"username": ops.username, "password": "wrong"}, timeout=30)
    assert bad.status_code in (400, 401), bad.text
    error(bad, bad.status_code)

    # Roles: 403 for an authenticated caller that the role does not allow.
    span = {"from": "2026-01-01", "to": "2026-01-31"}
    for api, method, path, params in [
        (worker, "get", "/api/v1/workers/", None),
        (finance, "get", "/api/v1/workers/", None),
        (worker, "post", "/api/v1/shifts/", None),
        (finance, "post", "/api/v1/shifts/", None),
        (worker, "post", f"/api/v1/workers/{worker.id}/approve/", None),
        (worker, "get", "/api/v1/payouts/rate-card/", None),
        (ops, "get", "/api/v1/payouts/rate-card/", None),
        (worker, "post", "/api/v1/payouts/runs/", None),
        (ops, "post", "/api/v1/payouts/runs/", None),
        (ops, "get", "/api/v1/payouts/earnings/", None),
        (ops, "get", "/api/v1/workers/me/", None),
        (ops, "get", "/api/v1/reports/payouts/", span),
        (worker, "get", "/api/v1/reports/payouts/", span),
        (worker, "get", "/api/v1/reports/operations/", span),
        (ops, "get", "/api/v1/reports/reconciliation/", span),
    ]:
        response = api.get(path, params=params) if method == "get" else api.post(path, {})
        error(response, 403)

    # The roles that are allowed get in.
    ok(ops.get("/api/v1/workers/"))
    ok(finance.get("/api/v1/payouts/rate-card/"))
    ok(ops.get("/api/v1/reports/operations/", params=span))
    ok(finance.get("/api/v1/reports/operations/", params=span))
    ok(finance.get("/api/v1/reports/payouts/", params=span))
    assert admin.role == "admin"


def test_bad_input_is_400_never_500(stack):
    url = stack.url
    ops, finance = staff(url, "ops"), staff(url, "finance")

    # Malformed JSON, and JSON that is not an object.
    for path, api in (("/api/v1/workers/applications/", Api(url)), ("/api/v1/tickets/", Api(url)),
                      ("/api/v1/shifts/", ops), ("/api/v1/auth/token/", Api(url))):
        response = api.http.post(path, content=b'{"username": ', headers={"Content-Type": "application/json"})
        error(response, 400)
        response = api.http.post(path, content=b'["a", "list"]', headers={"Content-Type": "application/json"})
        error(response, 400)
    response = finance.http.put("/api/v1/payouts/rate-card/", content=b"{nope",
                                headers={"Content-Type": "application/json"})
    error(response, 400)

    # Applications: every field validated, names in `fields`.
    invalid(httpx.post(f"{url}/api/v1/workers/applications/", json={}, timeout=30),
            "username", "password", "email", "full_name", "country", "timezone", "languages")
    body = {"username": "bad-apples", "password": "Corr3ct-horse-battery", "email": "not-an-email",
            "full_name": "Bad Apple", "country": "XX", "timezone": "Mars/Olympus", "languages": ["english"],
            "skills": ["juggling"]}
    invalid(httpx.post(f"{url}/api/v1/workers/applications/", json=body, timeout=30),
            "email", "country", "timezone", "languages", "skills")
    created, _ = apply(url)
    invalid(httpx.post(f"{url}/api/v1/workers/applications/", json={
        **body, "username": created["username"], "email": "x@example.com", "country": "PT",
        "timezone": "Europe/Lisbon", "languages": ["en"], "skills": ["general"]}, timeout=30), "username")

    # Shifts: start at most 5 minutes in the past, 15 min..12 h, capacity 1..1000, known language/skills.
    from tests.contract.helpers import shift_body

    invalid(ops.post("/api/v1/shifts/", shift_body(start_in_minutes=-30)), "starts_at")
    invalid(ops.post("/api/v1/shifts/", shift_body(start_in_minutes=60, hours=0.2)), "ends_at")
    invalid(ops.post("/api/v1/shifts/", shift_body(start_in_minutes=60, hours=13)), "ends_at")
    invalid(ops.post("/api/v1/shifts/", shift_body(start_in_minutes=60, capacity=0)), "capacity")
    invalid(ops.post("/api/v1/shifts/", shift_body(start_in_minutes=60, capacity=1001)), "capacity")
    invalid(ops.post("/api/v1/shifts/", shift_body(start_in_minutes=60, language="zz")), "language")
    invalid(ops.post("/api/v1/shifts/", shift_body(start_in_minutes=60, skills=["juggling"])), "skills")
    invalid(ops.post("/api/v1/shifts/", {**shift_body(start_in_minutes=60), "starts_at": "tomorrow"}), "starts_at")
    invalid(ops.post("/api/v1/shifts/", {**shift_body(start_in_minutes=60), "capacity": "many"}), "capacity")
    ok(ops.post("/api/v1/shifts/", shift_body(start_in_minutes=-4)), 201)  # 4 minutes in the past is fine
    ok(ops.post("/api/v1/shifts/", shift_body(start_in_minutes=60, hours=0.25, capacity=1)), 201)  # the bounds
    ok(ops.post("/api/v1/shifts/", shift_body(start_in_minutes=60, hours=12, capacity=1000)), 201)

    # Tickets.
    invalid(httpx.post(f"{url}/api/v1/tickets/", json={}, timeout=30), "name", "email", "language", "topic",
            "message")
    ticket = {"name": "Ana", "email": "ana@example.com", "language": "en", "topic": "general", "message": "Hi"}
    invalid(httpx.post(f"{url}/api/v1/tickets/", json={**ticket, "language": "klingon"}, timeout=30), "language")
    invalid(httpx.post(f"{url}/api/v1/tickets/", json={**ticket, "topic": "juggling"}, timeout=30), "topic")
    invalid(httpx.post(f"{url}/api/v1/tickets/", json={**ticket, "email": "nope"}, timeout=30), "email")
    invalid(httpx.post(f"{url}/api/v1/tickets/", json={**ticket, "message": "x" * 4001}, timeout=30), "message")
    ok(httpx.post(f"{url}/api/v1/tickets/", json={**ticket, "message": "x" * 4000}, timeout=30), 201)
    opened = open_ticket(url)
    customer = Api(url, ticket_token=opened["token"])
    messages = f"/api/v1/tickets/{opened['id']}/messages/"
    invalid(customer.post(messages, {"body": "y" * 4001, "client_id": "c-long"}), "body")
    invalid(customer.post(messages, {"client_id": "c-none"}), "body")
    invalid(customer.post(f"/api/v1/tickets/{opened['id']}/rating/", {"score": 9}), "score")

    # Rate card: the currency is kept lowercase whatever the input's case.
    card = ok(finance.put("/api/v1/payouts/rate-card/", {"currency": "EUR", "base_per_case": 500, "csat_bonus": 100,
                                                         "hold_hours": 72, "minimum_payout": 2000}))
    assert card["currency"] == "eur", card
    invalid(finance.put("/api/v1/payouts/rate-card/", {"currency": "euro", "base_per_case": -1, "csat_bonus": 0,
                                                       "hold_hours": 0, "minimum_payout": 100}),
            "currency", "base_per_case")


def test_query_parameters_are_validated_like_bodies(stack):
    url = stack.url
    ops, finance = staff(url, "ops"), staff(url, "finance")
    worker = approved_worker(url, ops)
    opened = open_ticket(url)
    customer = Api(url, ticket_token=opened["token"])

    for api, path, params in [
        (ops, "/api/v1/shifts/", {"from": "not-a-date"}),
        (ops, "/api/v1/shifts/", {"to": "2026-02-30"}),
        (ops, "/api/v1/shifts/", {"from": "2026-03-10", "to": "2026-03-01"}),
        (ops, "/api/v1/shifts/", {"available": "maybe"}),
        (worker, "/api/v1/shifts/", {"from": "2026-03-10", "to": "2026-03-01"}),
        (ops, "/api/v1/workers/", {"status": "sleeping"}),
        (ops, "/api/v1/tickets/", {"status": "lost"}),
        (customer, f"/api/v1/tickets/{opened['id']}/messages/", {"after": "abc"}),
        (customer, f"/api/v1/tickets/{opened['id']}/messages/", {"after": "-1"}),
        (finance, "/api/v1/payouts/earnings/", {"worker": "abc"}),
        (finance, "/api/v1/payouts/earnings/", {"status": "spent"}),
        (finance, "/api/v1/payouts/", {"run": "x"}),
        (finance, "/api/v1/payouts/", {"worker": "1.5"}),
        (finance, "/api/v1/payouts/", {"status": "lost"}),
        (finance, "/api/v1/reports/payouts/", {"from": "2026-13-01", "to": "2026-12-31"}),
        (finance, "/api/v1/reports/payouts/", {"from": "2026-03-10", "to": "2026-03-01"}),
        (finance, "/api/v1/reports/payouts/", {"from": "2026-03-10", "to": "2026-03-01", "format": "csv"}),
        (ops, "/api/v1/reports/operations/", {"from": "2026-03-10", "to": "2026-03-01"}),
        (ops, "/api/v1/reports/operations/", {"from": "yesterday", "to": "2026-03-01"}),
        (finance, "/api/v1/reports/reconciliation/", {"from": "2026-03-10", "to": "2026-03-01"}),
    ]:
        invalid(api.get(path, params=params))

    # The same endpoints answer 200 with good parameters, in the list shape.
    for api, path, params in [
        (ops, "/api/v1/shifts/", {"from": "2026-03-01", "to": "2026-03-10", "language": "en", "available": "true"}),
        (worker, "/api/v1/shifts/", {}),
        (ops, "/api/v1/workers/", {"status": "approved"}),
        (ops, "/api/v1/tickets/", {"status": "queued"}),
        (worker, "/api/v1/tickets/", {}),
        (customer, f"/api/v1/tickets/{opened['id']}/messages/", {"after": "0"}),
        (finance, "/api/v1/payouts/earnings/", {"worker": str(worker.id)}),
        (worker, "/api/v1/payouts/earnings/", {}),
        (finance, "/api/v1/payouts/", {"status": "paid"}),
        (worker, "/api/v1/payouts/", {}),
    ]:
        page(ok(api.get(path, params=params)))
    assert [w["id"] for w in page(ok(ops.get("/api/v1/workers/", params={"status": "approved"})))] == [worker.id]

    # Pages: `next` is a URL until the last page.
    for _ in range(3):
        create_shift(ops, start_in_minutes=120)
    first = ok(ops.get("/api/v1/shifts/", params={"page_size": 2}))
    assert len(page(first)) == 2 and first["count"] == 3 and first["next"]
    second = ok(httpx.get(first["next"], headers={"Authorization": f"Token {ops.token}"}, timeout=30))
    assert len(page(second)) == 1 and second["next"] is None

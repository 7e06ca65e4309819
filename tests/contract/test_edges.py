"""Edges of the contract: session login on the API and the console socket, hostile input never a
500, webhook signatures, queue positions pushed to waiting
customers, and earnings voided by a reopen inside the hold."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest

from tests.contract.helpers import (
    PASSWORD,
    Api,
    apply,
    approved_worker,
    connect,
    error,
    frames,
    ok,
    on_shift_worker,
    open_ticket,
    page,
    recv,
    recv_type,
    staff,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def session_login(url: str, username: str) -> httpx.Client:
    """Sign in through the portal's login form (Django session), as a browser does."""
    http = httpx.Client(base_url=url, timeout=30, headers={"Referer": f"{url}/login/"})
    form = http.get("/login/")
    assert form.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    done = http.post("/login/", data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert done.status_code in (302, 303), done.text[:300]
    assert "sessionid" in http.cookies
    return http


def test_session_login_works_on_the_api_and_the_console_socket(stack):
    url = stack.url
    ops = staff(url, "ops", via_login=True)
    created, _ = apply(url)
    browser = session_login(url, ops.username)
    workers = page(ok(browser.get("/api/v1/workers/", params={"status": "applied"})))
    assert created["id"] in [w["id"] for w in workers]
    # Unsafe methods with a session need the CSRF token, as Django always asks.
    csrf = browser.cookies.get("csrftoken")
    approved = ok(browser.post(f"/api/v1/workers/{created['id']}/approve/", json={},
                               headers={"X-CSRFToken": csrf or "", "Referer": f"{url}/"}))
    assert approved["status"] == "approved"

    worker_browser = session_login(url, created["username"])
    assert ok(worker_browser.get("/api/v1/workers/me/"))["id"] == created["id"]
    cookie = "; ".join(f"{k}={v}" for k, v in worker_browser.cookies.items())

    async def console():
        async with connect(f"{stack.ws_url}/ws/agent/", additional_headers={"Cookie": cookie}) as agent:
            assert await frames(agent, 0.3) == []

    asyncio.run(console())


def test_hostile_input_is_never_a_500(stack):
    url = stack.url
    ops, finance = staff(url, "ops"), staff(url, "finance")
    worker = approved_worker(url, ops)
    ticket = open_ticket(url)
    customer = Api(url, ticket_token=ticket["token"])
    huge = "9" * 25

    responses = [
        ops.get(f"/api/v1/workers/{huge}/"),
        ops.get(f"/api/v1/shifts/{huge}/"),
        worker.post(f"/api/v1/shifts/{huge}/claim/"),
        worker.post(f"/api/v1/shifts/{huge}/check-in/"),
        ops.get(f"/api/v1/tickets/{huge}/"),
        customer.get(f"/api/v1/tickets/{huge}/messages/"),
        customer.get(f"/api/v1/tickets/{ticket['id']}/messages/", params={"after": huge}),
        finance.get("/api/v1/payouts/", params={"run": huge}),
        finance.get("/api/v1/payouts/", params={"worker": huge}),
        finance.get("/api/v1/payouts/earnings/", params={"worker": huge}),
        finance.get(f"/api/v1/payouts/runs/{huge}/"),
        ops.get("/api/v1/shifts/", params={"from": "99999-01-01"}),
        ops.get("/api/v1/shifts/", params={"from": "2026-01-01T25:00:00Z"}),
        ops.get("/api/v1/workers/", params={"status": "\x00"}),
        finance.get("/api/v1/reports/payouts/", params={"from": "0000-01-01", "to": "0000-01-02"}),
        finance.get("/api/v1/reports/payouts/", params={"from": "2026-01-01"}),
        httpx.post(f"{url}/api/v1/tickets/", json={"name": "A\x00B", "email": "a@example.com", "language": "en",
                                                   "topic": "general", "message": "hi\x00there"}, timeout=30),
        httpx.post(f"{url}/api/v1/workers/applications/", json={
            "username": "nul\x00user", "password": "x\x00y", "email": "n@example.com", "full_name": "N\x00N",
            "country": "PT", "timezone": "Europe/Lisbon", "languages": ["en"], "skills": ["general"]}, timeout=30),
        customer.post(f"/api/v1/tickets/{ticket['id']}/messages/", {"body": "a\x00b", "client_id": "c-nul"}),
        customer.post(f"/api/v1/tickets/{ticket['id']}/messages/", {"body": "ok", "client_id": "c\x00nul"}),
        customer.post(f"/api/v1/tickets/{ticket['id']}/messages/", {"body": ["list"], "client_id": {"a": 1}}),
        ops.post("/api/v1/shifts/", {"starts_at": None, "ends_at": 5, "capacity": 10 ** 30, "language": ["en"],
                                     "skills": "general", "rate_multiplier": "NaN"}),
        ops.post("/api/v1/shifts/", {"starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z",
                                     "capacity": 2, "language": "en", "skills": [], "rate_multiplier": "1e400"}),
        finance.put("/api/v1/payouts/rate-card/", {"currency": "eur", "base_per_case": 10 ** 40, "csat_bonus": 0,
                                                   "hold_hours": 0, "minimum_payout": 1}),
        ops.post(f"/api/v1/workers/{worker.id}/suspend/", {"reason": "x" * 100_000}),
        httpx.post(f"{url}/api/v1/auth/token/", json={"username": "a\x00", "password": "b"}, timeout=30),
    ]
    for response in responses:
        assert response.status_code < 500, (response.request.method, str(response.request.url), response.text[:300])
        if response.status_code >= 400:
            error(response, response.status_code)


def test_a_nul_character_in_a_socket_frame_is_an_error_event(stack):
    ticket = open_ticket(stack.url)

    async def scenario():
        async with connect(ticket["ws_url"]) as ws:
            await ws.send(json.dumps({"type": "message", "body": "nul\x00here", "client_id": "c-ws-nul"}))
            event = await recv(ws)
            assert event["type"] == "error", event
            await ws.send(json.dumps({"type": "message", "body": "fine", "client_id": "c\x00id"}))
            event = await recv(ws)
            assert event["type"] == "error", event
            # The socket is still usable.
            await ws.send(json.dumps({"type": "message", "body": "still here", "client_id": "c-ws-ok"}))
            assert (await recv_type(ws, "message"))["body"] == "still here"

    asyncio.run(scenario())


def test_stripe_webhook_without_a_valid_signature_is_400(stack):
    event = json.dumps({"id": "evt_forged", "type": "transfer.reversed", "data": {"object": {"id": "tr_x"}}})
    for headers in ({}, {"Stripe-Signature": "t=1,v1=deadbeef"}):
        response = httpx.post(f"{stack.url}/api/v1/payouts/stripe/webhook/", content=event,
                              headers={"Content-Type": "application/json", **headers}, timeout=30)
        error(response, 400)


def test_waiting_customers_see_their_queue_position(stack):
    url = stack.url
    ops = staff(url, "ops")

    async def scenario():
        first = await asyncio.to_thread(open_ticket, url, language="fr", topic="general")
        second = await asyncio.to_thread(open_ticket, url, language="fr", topic="refunds")
        assert (first["status"], first["queue_position"]) == ("queued", 1), first
        assert (second["status"], second["queue_position"]) == ("queued", 2), second
        async with connect(second["ws_url"]) as waiting:
            # A French worker without the refunds skill comes online: the first ticket is routed,
            # the second moves up to position 1 and its customer is told.
            french, _ = await asyncio.to_thread(on_shift_worker, url, ops, languages=["fr"], skills=["general"],
                                                language="fr")
            async with connect(f"{stack.ws_url}/ws/agent/?token={french.token}") as agent:
                assert (await recv_type(agent, "ticket.assigned"))["ticket"]["id"] == first["id"]
                # (Routing passes before the worker connected may repeat the unchanged position 2.)
                event = await recv(waiting)
                while event["type"] == "typing" or event == {"type": "queue.position", "ticket": second["id"],
                                                             "position": 2}:
                    event = await recv(waiting)
                assert event == {"type": "queue.position", "ticket": second["id"], "position": 1}, event
        detail = await asyncio.to_thread(lambda: ok(Api(url, ticket_token=second["token"]).get(
            f"/api/v1/tickets/{second['id']}/")))
        assert detail["status"] == "queued"

    asyncio.run(scenario())


def test_a_reopen_inside_the_hold_voids_the_earnings(stack):
    url = stack.url
    ops, finance = staff(url, "ops"), staff(url, "finance")
    ok(finance.put("/api/v1/payouts/rate-card/", {"currency": "eur", "base_per_case": 400, "csat_bonus": 50,
                                                  "hold_hours": 72, "minimum_payout": 100}))
    alice, _ = on_shift_worker(url, ops)

    async def scenario():
        async with connect(f"{stack.ws_url}/ws/agent/?token={alice.token}") as agent:
            ticket = await asyncio.to_thread(open_ticket, url)
            await recv_type(agent, "ticket.assigned")
            ok(await asyncio.to_thread(alice.post, f"/api/v1/tickets/{ticket['id']}/resolve/", {"resolution": "ok"}))
            return ticket

    ticket = asyncio.run(scenario())
    customer = Api(url, ticket_token=ticket["token"])
    assert customer.post(f"/api/v1/tickets/{ticket['id']}/rating/", {"score": 5}).status_code in (200, 201)

    def earned(statuses):
        rows = page(ok(finance.get("/api/v1/payouts/earnings/", params={"worker": alice.id})))
        return rows if len(rows) == 2 and {r["status"] for r in rows} <= statuses else None

    rows = wait_for(lambda: earned({"pending"}), timeout=30, what="pending case pay and bonus")
    assert sorted(r["amount"] for r in rows) == [50, 400]
    balance = ok(alice.get("/api/v1/payouts/balance/"))
    assert (balance["pending"], balance["available"]) == (450, 0)
    stack.manage("settle_earnings")  # the hold has not passed: nothing moves
    assert ok(alice.get("/api/v1/payouts/balance/"))["pending"] == 450

    ok(customer.post(f"/api/v1/tickets/{ticket['id']}/reopen/"))
    wait_for(lambda: earned({"voided"}), timeout=30, what="earnings voided by the reopen")
    balance = ok(alice.get("/api/v1/payouts/balance/"))
    assert (balance["pending"], balance["available"], balance["paid"]) == (0, 0, 0), balance

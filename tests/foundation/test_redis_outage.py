"""Redis down for real (a private `redis-server`, stopped and started again under live servers):
committed writes answer their real result, new sockets are told to come back later, and once
Redis is back the work left behind is picked up — the payout run paid once, every event delivered.
The shared Redis is never touched."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from kernel.outbox.models import OutboxEvent
from payouts.models import Earning, Payout, PayoutRun
from tests.factories.accounts import api_token_for
from tests.factories.tickets import on_shift_worker
from tests.factories.workers import StaffFactory
from tests.servers import AsgiServer, CeleryWorker, RedisServerProcess, wait_until
from tests.tickets.wsclient import connect, open_ticket_over_http, recv, recv_type, silent
from tickets.models import Message, Ticket

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("skill_catalogue")]


def _token(user) -> dict[str, str]:
    token = api_token_for(user)
    return {"Authorization": f"Token {token}"}


async def _close_code(uri: str) -> int:
    """The close code of a socket the server ends right away (fails if it stays open)."""
    async with connect(uri, open_timeout=10) as ws:
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.exceptions.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else 1006
    raise AssertionError(f"{uri} stayed open")


@pytest.mark.django_db(transaction=True)
def test_writes_during_a_redis_outage_answer_and_their_work_resumes_when_it_returns(
        stripe_sandbox, ready_worker_factory, earn):
    redis = RedisServerProcess()
    redis_url = f"{redis.url}/3"
    env = {"REDIS_URL": redis_url, "CELERY_TASK_ALWAYS_EAGER": "false", "STRIPE_API_BASE": stripe_sandbox.url,
           "CELERY_QUEUE": "outage", "CHANNEL_LAYER_PREFIX": "outage", "CACHE_KEY_PREFIX": "outage"}
    server = AsgiServer(**env)  # rate limits on: they must not fail on Redis either
    worker = on_shift_worker()
    payee = ready_worker_factory()
    earn(payee, cases=5)
    finance = StaffFactory(role="finance")
    ticket = open_ticket_over_http(server)
    assert ticket["status"] == "assigned"
    customer = {"X-Ticket-Token": ticket["token"]}
    agent_uri = f"{server.ws_url}/ws/agent/?token={api_token_for(worker.user)}"

    redis.stop()
    resolve = httpx.post(f"{server.url}/api/v1/tickets/{ticket['id']}/resolve/", json={"resolution": "Refunded"},
                         headers=_token(worker.user), timeout=30)
    rating = httpx.post(f"{server.url}/api/v1/tickets/{ticket['id']}/rating/", json={"score": 5, "comment": "ok"},
                        headers=customer, timeout=30)
    run = httpx.post(f"{server.url}/api/v1/payouts/runs/", headers=_token(finance), timeout=30)
    socket_close = asyncio.run(_close_code(agent_uri))
    # An export has nothing committed behind it: it cannot start, and says so in the error shape.
    export = httpx.post(f"{server.url}/api/v1/reports/exports/", headers=_token(finance), timeout=30,
                        json={"kind": "earnings", "from": "2026-11-01", "to": "2026-11-30"})

    assert (resolve.status_code, resolve.json()["status"]) == (200, "resolved")
    assert (rating.status_code, rating.json()["rating"]) == (201, 5)
    assert (run.status_code, run.json()["status"]) == (202, "queued")
    assert socket_close == 1013
    assert (export.status_code, export.json()["code"], export.headers["Retry-After"]) == (
        503, "service_unavailable", "5")
    assert Ticket.objects.get(pk=ticket["id"]).status == "resolved"
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() >= 2  # resolved, rated
    assert PayoutRun.objects.get(pk=run.json()["id"]).status == "queued"
    assert stripe_sandbox.transfers() == []

    redis = RedisServerProcess(port=redis.port)
    # Beat inside the worker, with the sweeps due every two seconds for anything a second old.
    celery = CeleryWorker("-B", **env, OUTBOX_REDELIVER_SECONDS="2",
                          OUTBOX_REDELIVER_AFTER_SECONDS="1", PAYOUT_RESUME_QUEUED_SECONDS="2",
                          PAYOUT_QUEUED_STALE_SECONDS="1")
    try:
        wait_until(lambda: PayoutRun.objects.get(pk=run.json()["id"]).status == "completed", 90, "the queued run")
        wait_until(lambda: not OutboxEvent.objects.filter(delivered_at__isnull=True).exists(), 90, "outbox delivery")
        time.sleep(3)  # another sweep or two: nothing may run twice
    finally:
        celery.stop()

    transfers = stripe_sandbox.transfers()
    assert [t["destination"] for t in transfers] == [payee.stripe_account_id]
    assert list(Payout.objects.values_list("worker_id", "status", "amount")) == [(payee.pk, "paid", 2500)]
    # The resolve's case pay and the rating's bonus reached payouts, once each.
    assert sorted(Earning.objects.filter(ticket_id=ticket["id"]).values_list("kind", flat=True)) == [
        "case_pay", "csat_bonus"]
    assert asyncio.run(_accepted(agent_uri))
    server.stop()
    redis.stop()


async def _accepted(uri: str) -> bool:
    async with connect(uri, open_timeout=10) as ws:
        await silent(ws, 0.3, ignore=("ticket.assigned", "queue.position"))
        return True


@pytest.mark.django_db(transaction=True)
def test_redis_restarted_during_a_chat_clients_recover_by_replay_nothing_lost_or_doubled():
    redis = RedisServerProcess()
    env = {"REDIS_URL": f"{redis.url}/0", "RATELIMIT_ENABLE": "false", "CHANNEL_LAYER_PREFIX": "restart"}
    server = AsgiServer(**env)
    worker = on_shift_worker(connected=False)
    agent_uri = f"{server.ws_url}/ws/agent/?token={api_token_for(worker.user)}"
    worker_headers = _token(worker.user)

    async def scenario() -> tuple[list, list]:
        nonlocal redis
        async with connect(agent_uri) as agent:
            ticket = await asyncio.to_thread(open_ticket_over_http, server)
            await recv_type(agent, "ticket.assigned")
            customer_uri = f"{server.ws_url}/ws/tickets/{ticket['id']}/?token={ticket['token']}"
            async with connect(f"{customer_uri}&after=0") as customer:
                assert (await recv(customer))["seq"] == 1
                await customer.send(json.dumps({"type": "message", "body": "before", "client_id": "c-1"}))
                assert (await recv_type(customer, "message"))["seq"] == 2
                assert (await recv_type(agent, "message"))["seq"] == 2

                redis.stop()
                # During the outage both sides keep writing over HTTP: stored, not relayed.
                for n, (headers, body) in enumerate([({"X-Ticket-Token": ticket["token"]}, "during 1"),
                                                     (worker_headers, "during 2")]):
                    response = await asyncio.to_thread(
                        httpx.post, f"{server.url}/api/v1/tickets/{ticket['id']}/messages/",
                        json={"body": body, "client_id": f"outage-{n}"}, headers=headers, timeout=30)
                    assert response.status_code == 201, response.text
                redis = await asyncio.to_thread(RedisServerProcess, redis.port)
        # Both reconnect from the last seq they saw: the missed messages once, in order.
        async with connect(f"{customer_uri}&after=2") as customer, connect(agent_uri) as agent:
            replayed = [await recv(customer), await recv(customer)]
            await customer.send(json.dumps({"type": "message", "body": "after", "client_id": "c-2"}))
            live = await recv_type(agent, "message", timeout=10)
            extra = await silent(customer, 0.5)
            return replayed + [live], extra

    messages, extra = asyncio.run(scenario())

    assert [(m["seq"], m["body"]) for m in messages] == [(3, "during 1"), (4, "during 2"), (5, "after")]
    assert [(m["seq"], m["body"]) for m in extra] == [(5, "after")]  # the sender's own acknowledgement
    ticket_id = messages[0]["ticket"]
    assert list(Message.objects.filter(ticket_id=ticket_id).order_by("seq").values_list("seq", "body")) == [
        (1, "Where is my refund?"), (2, "before"), (3, "during 1"), (4, "during 2"), (5, "after")]
    server.stop()
    redis.stop()

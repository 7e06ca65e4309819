"""The foundation against real processes: uvicorn, the Redis channel layer, a Celery worker."""

import asyncio
import json
import time
import warnings

import httpx
import pytest
import websockets

from kernel.outbox.models import OutboxEvent
from marketplace.celery import app as celery_app
from tests.factories.accounts import api_token_for
from tests.factories.workers import StaffFactory
from tests.servers import AsgiServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _token(user) -> str:
    return api_token_for(user)


async def _echo_round_trip(url_a: str, url_b: str) -> dict:
    async with websockets.connect(url_a) as first, websockets.connect(url_b) as second:
        await asyncio.sleep(0.3)  # both subscriptions are in place before the send
        await first.send(json.dumps({"text": "hello from A"}))
        received_by_second = json.loads(await asyncio.wait_for(second.recv(), 5))
        received_by_first = json.loads(await asyncio.wait_for(first.recv(), 5))
        return {"second": received_by_second, "first": received_by_first}


def test_websocket_round_trip_between_two_server_processes_through_redis(asgi_server_factory):
    alice, bob = StaffFactory(username="alice"), StaffFactory(username="bob")
    server_one, server_two = asgi_server_factory(), asgi_server_factory()

    result = asyncio.run(_echo_round_trip(
        f"{server_one.ws_url}/ws/echo/room-1/?token={_token(alice)}",
        f"{server_two.ws_url}/ws/echo/room-1/?token={_token(bob)}",
    ))

    expected = {"type": "echo", "sender": "alice", "payload": {"text": "hello from A"}}
    assert result == {"second": expected, "first": expected}


async def _handshake_status(url: str, **kwargs) -> int | None:
    try:
        async with websockets.connect(url, **kwargs):
            return None
    except websockets.exceptions.InvalidStatus as exc:
        return exc.response.status_code


def test_websocket_without_token_or_from_foreign_origin_is_refused_at_handshake(asgi_server):
    carol = StaffFactory(username="carol")
    base = f"{asgi_server.ws_url}/ws/echo/room-2/"

    no_token = asyncio.run(_handshake_status(base))
    bad_token = asyncio.run(_handshake_status(f"{base}?token=not-a-token"))
    foreign = asyncio.run(_handshake_status(f"{base}?token={_token(carol)}", origin="https://evil.example"))
    own_origin = asyncio.run(_handshake_status(f"{base}?token={_token(carol)}", origin="http://127.0.0.1"))

    assert (no_token, bad_token, foreign, own_origin) == (403, 403, 403, None)


def test_healthz_over_http_on_the_asgi_server(asgi_server):
    response = httpx.get(f"{asgi_server.url}/healthz", timeout=10)

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok", "broker": "ok"}


def test_healthz_is_503_naming_channel_layer_and_broker_when_redis_is_unreachable():
    server = AsgiServer(REDIS_URL="redis://127.0.0.1:1/0")
    try:
        response = httpx.get(f"{server.url}/healthz", timeout=20)
    finally:
        server.stop()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"] == {"database": "ok", "channel_layer": "error", "broker": "error"}
    assert body["failing"] == ["channel_layer", "broker"]


def test_celery_task_runs_in_a_real_worker_process_through_redis(celery_worker_process):
    event = OutboxEvent.objects.create(topic="diagnostic.ping", payload={"sent": "by a test"})

    # send_task always goes through the broker, even though in-process tasks here are eager.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        celery_app.send_task("outbox.relay", args=[str(event.id)])

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        event.refresh_from_db()
        if event.delivered_at is not None:
            break
        time.sleep(0.2)
    assert event.delivered_at is not None, celery_worker_process.log()
    assert "outbox.relay" in celery_worker_process.log()

"""Frames that used to kill the agent socket (1006, `disconnect()` never ran, the worker stayed
"present" with nobody there), and sockets dropped without a close: real uvicorn, real clients."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.factories.tickets import TicketFactory, on_shift_worker
from tests.tickets.wsclient import connect, recv, recv_type
from tickets.models import Message
from workers.models import AgentPresence

pytestmark = [pytest.mark.slow]

NO_LIMITS = {"RATELIMIT_ENABLE": "false"}


def agent_uri(server, worker) -> str:
    token, _ = Token.objects.get_or_create(user=worker.user)
    return f"{server.ws_url}/ws/agent/?token={token.key}"


def connections_of(worker) -> int:
    try:
        return AgentPresence.objects.get(worker=worker).connections
    finally:
        connection.close()


async def connections_become(worker, expected: int, within: float = 5) -> int:
    for _ in range(int(within / 0.1)):
        now = await asyncio.to_thread(connections_of, worker)
        if now == expected:
            return now
        await asyncio.sleep(0.1)
    return now


def deeply_nested_frame(ticket_id: int, depth: int) -> str:
    return (f'{{"type": "message", "ticket": {ticket_id}, "client_id": "deep", "body": '
            + "[" * depth + "]" * depth + "}")


def test_frames_that_killed_the_agent_socket_answer_errors_and_the_socket_carries_on(asgi_server_factory):
    server = asgi_server_factory(**NO_LIMITS)
    worker = on_shift_worker(connected=False)
    held = TicketFactory(status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
    uri = agent_uri(server, worker)
    bad_frames = [
        json.dumps({"type": "message", "ticket": 2**70, "body": "hi", "client_id": "huge-id"}),
        json.dumps({"type": "typing", "ticket": 2**70}),
        json.dumps({"type": "message", "ticket": held.id, "body": "x\ud800y", "client_id": "surrogate"}),
        json.dumps({"type": "message", "ticket": held.id, "body": "ok", "client_id": "key\udfff"}),
        deeply_nested_frame(held.id, 2_000),
        deeply_nested_frame(held.id, 100_000)[:16_000],
    ]

    async def scenario():
        async with connect(uri) as agent:
            await recv_type(agent, "ticket.assigned")
            assert await connections_become(worker, 1) == 1
            errors = []
            for frame in bad_frames:
                await agent.send(frame)
                errors.append(await recv(agent))
            await agent.send(json.dumps({"type": "message", "ticket": held.id, "body": "Still here",
                                         "client_id": "ok"}))
            ack = await recv_type(agent, "message")
            assert await connections_become(worker, 1) == 1
        return errors, ack

    errors, ack = asyncio.run(scenario())
    assert [(e["type"], e["code"]) for e in errors] == [
        ("error", "invalid"), ("error", "not_found"), ("error", "malformed_frame"), ("error", "malformed_frame"),
        ("error", "malformed_frame"), ("error", "malformed_frame")]
    assert all(e["detail"] for e in errors)
    assert (ack["seq"], ack["body"]) == (2, "Still here")
    assert list(Message.objects.filter(ticket=held).values_list("seq", "client_id")) == [(1, ""), (2, "ok")]
    assert asyncio.run(connections_become(worker, 0)) == 0


def test_a_customer_socket_survives_the_same_frames(asgi_server_factory):
    server = asgi_server_factory(**NO_LIMITS)
    ticket = TicketFactory()

    async def scenario():
        async with connect(f"{server.ws_url}/ws/tickets/{ticket.id}/?token={ticket.token}") as customer:
            replies = []
            for frame in [json.dumps({"type": "message", "ticket": 2**70, "body": "x", "client_id": "a"}),
                          json.dumps({"type": "message", "body": "\ud800", "client_id": "b"}),
                          deeply_nested_frame(ticket.id, 5_000)[:16_000], "x" * 1_000_000]:
                await customer.send(frame)
                replies.append(await recv(customer))
            await customer.send(json.dumps({"type": "message", "body": "fine", "client_id": "c"}))
            replies.append(await recv(customer))
        return replies

    replies = asyncio.run(scenario())
    assert [r.get("code") or r["seq"] for r in replies] == [
        "not_found", "malformed_frame", "malformed_frame", "frame_too_large", 2]
    assert Message.objects.filter(ticket=ticket).count() == 2


def test_a_console_dropped_without_a_close_ends_its_presence(asgi_server_factory):
    server = asgi_server_factory(**NO_LIMITS)
    worker = on_shift_worker(connected=False)
    uri = agent_uri(server, worker)

    async def scenario():
        agent = await connect(uri)
        assert await connections_become(worker, 1) == 1
        agent.transport.abort()  # the TCP connection just goes: no close frame
        return await connections_become(worker, 0)

    assert asyncio.run(scenario()) == 0
    assert AgentPresence.objects.get(worker=worker).disconnected_at is not None

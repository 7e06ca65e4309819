"""Websocket abuse on a real server in production mode: refused, limited or dropped, the others
unharmed, the server's memory flat (its RSS read from /proc)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from rest_framework.authtoken.models import Token

from tests.factories.tickets import TicketFactory, on_shift_worker
from tests.tickets.wsclient import connect, recv, recv_type, refused, silent
from tickets.models import Message

pytestmark = [pytest.mark.slow]


def rss_kib(server) -> int:
    with open(f"/proc/{server.proc.pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def customer_uri(server, ticket) -> str:
    return f"{server.ws_url}/ws/tickets/{ticket.id}/?token={ticket.token}"


def message(body: str, client_id: str, **extra) -> str:
    return json.dumps({"type": "message", "body": body, "client_id": client_id, **extra})


def test_twenty_sockets_on_one_ticket_share_its_message_allowance_with_rest(asgi_server_factory):
    server = asgi_server_factory(RATE_TICKET_MESSAGE="20/min", RATE_ANON="100000/min")
    ticket, other = TicketFactory(), TicketFactory()

    async def one_socket(n: int) -> list[dict]:
        async with connect(customer_uri(server, ticket), max_size=None) as ws:
            for i in range(20):
                await ws.send(message("x" * 4000, f"s{n}-{i}"))
            replies = []
            while len([r for r in replies if r.get("client_id", "").startswith(f"s{n}-") or r["type"] == "error"]) < 20:
                replies.append(await recv(ws, 20))
            return replies

    async def scenario():
        replies = await asyncio.gather(*(one_socket(n) for n in range(20)))
        over_rest = await asyncio.to_thread(
            httpx.post, f"{server.url}/api/v1/tickets/{ticket.id}/messages/",
            json={"body": "one more", "client_id": "rest"}, headers={"X-Ticket-Token": ticket.token})
        async with connect(customer_uri(server, other)) as ws:  # another ticket's allowance is its own
            await ws.send(message("hello", "o1"))
            other_ack = await recv(ws)
        return replies, over_rest, other_ack

    replies, over_rest, other_ack = asyncio.run(scenario())
    own_errors = [r["code"] for socket in replies for r in socket if r["type"] == "error"]
    assert Message.objects.filter(ticket=ticket).count() == 1 + 20
    assert own_errors == ["rate_limited"] * (400 - 20)
    assert over_rest.status_code == 429
    assert over_rest.json()["code"] == "rate_limited" and int(over_rest.headers["Retry-After"]) >= 1
    assert (other_ack["type"], other_ack["seq"]) == ("message", 2)


def test_a_workers_allowance_is_shared_by_all_their_consoles(asgi_server_factory):
    server = asgi_server_factory(RATE_TICKET_MESSAGE="5/min")
    worker = on_shift_worker(connected=False)
    held = TicketFactory(status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
    token, _ = Token.objects.get_or_create(user=worker.user)
    uri = f"{server.ws_url}/ws/agent/?token={token.key}"

    async def scenario():
        async with connect(uri) as first, connect(uri) as second:
            codes = []
            for i in range(4):
                for ws in (first, second):
                    await ws.send(message("hi", f"{id(ws)}-{i}", ticket=held.id))
                    reply = await recv_type(ws, "error") if len(codes) >= 5 else await recv(ws)
                    codes.append(reply.get("code") or "stored")
            return codes

    codes = asyncio.run(scenario())
    assert codes == ["stored"] * 5 + ["rate_limited"] * 3
    assert Message.objects.filter(ticket=held).count() == 1 + 5


def test_refused_at_the_handshake_anonymous_foreign_origin_wrong_token(asgi_server_factory):
    server = asgi_server_factory(RATELIMIT_ENABLE="false")
    worker = on_shift_worker(connected=False)
    ticket = TicketFactory()
    token, _ = Token.objects.get_or_create(user=worker.user)
    base = server.ws_url

    async def scenario():
        return [
            await refused(f"{base}/ws/agent/"),
            await refused(f"{base}/ws/agent/?token=nope"),
            await refused(f"{base}/ws/agent/?token={token.key}", origin="https://evil.example"),
            await refused(f"{base}/ws/tickets/{ticket.id}/"),
            await refused(f"{base}/ws/tickets/{ticket.id}/?token={token.key}"),
            await refused(f"{base}/ws/tickets/{ticket.id}/?token={ticket.token}", origin="https://evil.example"),
            await refused(f"{base}/ws/ops/live/"),
            await refused(f"{base}/ws/ops/live/?token={token.key}"),
            await refused(f"{base}/ws/shifts/"),
            await refused(f"{base}/ws/echo/room/"),
        ]

    assert asyncio.run(scenario()) == [403] * 10


@pytest.mark.parametrize("status", ["resolved", "abandoned"])
def test_a_token_after_its_ticket_closed_reads_but_cannot_write(asgi_server_factory, status):
    server = asgi_server_factory(RATELIMIT_ENABLE="false")
    worker = on_shift_worker(connected=False)
    ticket = TicketFactory(status=status, assigned_worker=worker if status == "resolved" else None)

    async def scenario():
        async with connect(customer_uri(server, ticket) + "&after=0") as ws:
            replay = await recv(ws)
            await ws.send(message("still there?", "late"))
            return replay, await recv(ws)

    replay, reply = asyncio.run(scenario())
    assert (replay["type"], replay["seq"]) == ("message", 1)
    assert (reply["type"], reply["code"]) == ("error", "ticket_closed")
    assert Message.objects.filter(ticket=ticket).count() == 1


def test_floods_big_frames_and_a_client_that_never_reads_leave_others_unharmed_and_memory_flat(asgi_server_factory):
    server = asgi_server_factory()  # production limits on
    quiet, flooded = TicketFactory(), TicketFactory()

    async def chat_round_trip(ws, n: int) -> float:
        started = time.monotonic()
        await ws.send(message(f"ping {n}", f"p{n}"))
        ack = await recv_type(ws, "message", timeout=5)
        assert ack["client_id"] == f"p{n}"
        return time.monotonic() - started

    async def abuse(rounds: int) -> None:
        # 1 MB frames, invalid JSON and a flood of frames on one socket, a reader that never reads.
        async with connect(customer_uri(server, flooded), max_size=None) as flooder, \
                connect(customer_uri(server, flooded), max_size=None, max_queue=1) as never_reads:
            for r in range(rounds):
                for _ in range(3):
                    await flooder.send("y" * 1_000_000)
                for i in range(300):
                    await flooder.send("{not json" if i % 2 else message("z" * 4000, f"f{r}-{i}"))
                    await never_reads.send(json.dumps({"type": "typing"}))
                await asyncio.sleep(0)
            # The flooder's socket still answers, with errors for what it sent too much of.
            await flooder.send(message("after", "after"))
            assert (await recv_type(flooder, "error", timeout=10))["code"] in (
                "frame_too_large", "malformed_frame", "rate_limited")

    async def scenario():
        async with connect(customer_uri(server, quiet)) as bystander:
            await chat_round_trip(bystander, 0)
            await abuse(1)  # warm up: allocator pools, code paths
            before = rss_kib(server)
            await abuse(3)
            latencies = [await chat_round_trip(bystander, n) for n in range(1, 6)]
            await silent(bystander, 0.2, ignore=("queue.position", "typing"))
            after = rss_kib(server)
        print(f"server RSS {before} KiB -> {after} KiB; bystander round trips {latencies}")
        return before, after, latencies

    before, after, latencies = asyncio.run(scenario())
    assert max(latencies) < 1.0, latencies
    assert after - before < 30 * 1024, (before, after)
    assert Message.objects.filter(ticket=quiet).count() == 1 + 6
    # The flood stored no more than the ticket's allowance (60 a minute by default).
    assert Message.objects.filter(ticket=flooded).count() <= 1 + 60

"""The ops live board socket (/ws/ops/live/) on a real ASGI server with the Redis layer."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.factories.accounts import api_token_for
from tests.factories.tickets import TicketFactory, on_shift_worker
from tests.factories.workers import StaffFactory
from tests.servers import free_port
from tests.tickets.wsclient import connect, open_ticket_over_http, recv, refused

pytestmark = [pytest.mark.slow]

# A long refresh, so every update these tests see is a push caused by a change, not the periodic snapshot.
PUSH_ONLY = {"RATELIMIT_ENABLE": "false", "OPS_LIVE_REFRESH_SECONDS": "60"}


def token_for(user) -> str:
    return api_token_for(user)


async def next_board(ws, timeout: float = 5) -> dict:
    frame = await recv(ws, timeout)
    assert frame["type"] == "live_board", frame
    return frame["board"]


async def board_until(ws, predicate, timeout: float = 5) -> tuple[dict, int]:
    """The first pushed board that satisfies `predicate`, and how many boards came until then."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        board = await next_board(ws, max(deadline - time.monotonic(), 0.01))
        seen += 1
        if predicate(board):
            return board, seen


def without_times(board: dict) -> dict:
    """The board without what only differs by when it was read."""
    return {
        "queue": [{k: v for k, v in row.items() if k != "longest_wait_seconds"} for row in board["queue"]],
        "queue_length": board["queue_length"], "workers": board["workers"],
        "open_tickets": board["open_tickets"], "sla_breaches": [row["ticket"] for row in board["sla_breaches"]],
    }


def test_ops_socket_gets_the_board_at_once_then_a_new_queued_ticket(asgi_server_factory):
    server = asgi_server_factory(**PUSH_ONLY)
    waiting = TicketFactory(language="en")
    ops = StaffFactory(role="ops")
    uri = f"{server.ws_url}/ws/ops/live/?token={token_for(ops)}"

    async def scenario():
        async with connect(uri) as board_socket:
            first = await next_board(board_socket, timeout=2)
            assert (first["queue_length"], [(q["language"], q["topic"], q["queued"]) for q in first["queue"]]) == (
                1, [("en", "general", 1)])
            assert [(t["ticket"], t["status"]) for t in first["open_tickets"]] == [(waiting.id, "queued")]

            started = time.monotonic()
            created = await asyncio.to_thread(open_ticket_over_http, server, language="de", topic="refunds")
            board, _ = await board_until(board_socket, lambda b: b["queue_length"] == 2, timeout=3)
            assert time.monotonic() - started < 3
            assert [(q["language"], q["topic"], q["queued"]) for q in board["queue"]] == [
                ("de", "refunds", 1), ("en", "general", 1)]
            assert [(t["ticket"], t["status"], t["language"]) for t in board["open_tickets"]] == [
                (waiting.id, "queued", "en"), (created["id"], "queued", "de")]
            return board

    pushed = asyncio.run(scenario())
    polled = httpx.get(f"{server.url}/api/v1/tickets/live-board/",
                       headers={"Authorization": f"Token {token_for(ops)}"}).json()
    assert without_times(pushed) == without_times(polled)


def test_only_ops_from_our_own_pages_may_open_the_board_socket(asgi_server_factory):
    port = free_port()
    server = asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
                                 WIDGET_ALLOWED_ORIGINS="https://shop.example", **PUSH_ONLY)
    ops, admin = StaffFactory(role="ops"), StaffFactory(role="admin")
    finance = StaffFactory(role="finance")
    worker = on_shift_worker(connected=False)
    ticket = TicketFactory()
    base = f"{server.ws_url}/ws/ops/live/"
    ops_token, admin_token = token_for(ops), token_for(admin)
    worker_token, finance_token = token_for(worker.user), token_for(finance)

    async def scenario():
        assert await refused(base) == 403
        assert await refused(f"{base}?token=not-a-token") == 403
        assert await refused(f"{base}?token={ticket.token}") == 403
        assert await refused(f"{base}?token={worker_token}") == 403
        assert await refused(f"{base}?token={finance_token}") == 403
        assert await refused(f"{base}?token={ops_token}", origin="https://evil.example") == 403
        assert await refused(f"{base}?token={ops_token}", origin="https://shop.example") == 403
        async with connect(f"{base}?token={ops_token}", origin=server.url) as ops_socket:
            assert (await next_board(ops_socket))["queue_length"] == 1
        async with connect(f"{base}?token={admin_token}") as admin_socket:
            assert (await next_board(admin_socket))["queue_length"] == 1

    asyncio.run(scenario())


def test_board_follows_a_worker_going_online_taking_a_ticket_and_dropping_off(asgi_server_factory):
    server = asgi_server_factory(**PUSH_ONLY)
    worker = on_shift_worker(connected=False, cap=2)
    ops = StaffFactory(role="ops")
    board_uri = f"{server.ws_url}/ws/ops/live/?token={token_for(ops)}"
    agent_uri = f"{server.ws_url}/ws/agent/?token={token_for(worker.user)}"

    def worker_row(board: dict) -> tuple:
        rows = [(w["worker"], w["presence"], w["load"], w["cap"]) for w in board["workers"]]
        assert len(rows) == 1, rows
        return rows[0][1:]

    async def scenario():
        async with connect(board_uri) as board_socket:
            assert worker_row(await next_board(board_socket)) == ("offline", 0, 2)
            async with connect(agent_uri):
                await board_until(board_socket, lambda b: worker_row(b) == ("online", 0, 2))
                ticket = await asyncio.to_thread(open_ticket_over_http, server)
                assert ticket["status"] == "assigned"
                board, _ = await board_until(board_socket, lambda b: worker_row(b) == ("online", 1, 2))
                assert board["queue_length"] == 0
                assert [(t["ticket"], t["status"], t["worker"]) for t in board["open_tickets"]] == [
                    (ticket["id"], "assigned", worker.pk)]
            # The console closed: the worker is in the grace period, still holding the ticket.
            await board_until(board_socket, lambda b: worker_row(b) == ("grace", 1, 2))

    asyncio.run(scenario())


def test_a_burst_of_new_tickets_is_pushed_as_a_few_snapshots_ending_with_all_of_them(asgi_server_factory):
    server = asgi_server_factory(OPS_LIVE_PUSH_INTERVAL_SECONDS="1", **PUSH_ONLY)
    ops = StaffFactory(role="ops")
    uri = f"{server.ws_url}/ws/ops/live/?token={token_for(ops)}"

    async def scenario():
        async with connect(uri) as board_socket:
            assert (await next_board(board_socket))["queue_length"] == 0
            started = time.monotonic()

            def burst() -> None:
                with ThreadPoolExecutor(4) as pool:
                    list(pool.map(lambda i: open_ticket_over_http(server, email=f"c{i}@example.com"), range(20)))

            created = asyncio.ensure_future(asyncio.to_thread(burst))
            board, pushes = await board_until(board_socket, lambda b: b["queue_length"] == 20, timeout=30)
            await created
            elapsed = time.monotonic() - started
            later = []
            try:
                while True:
                    later.append(await next_board(board_socket, timeout=1.5))
            except TimeoutError:
                pass
            return board, pushes, elapsed, later

    board, pushes, elapsed, later = asyncio.run(scenario())
    # 20 tickets, one change each; at most one push a second (plus the first, 50 ms in).
    assert pushes <= int(elapsed) + 2, (pushes, elapsed)
    assert pushes < 20
    assert len(board["open_tickets"]) == 20
    assert later == []


def test_sla_breach_appears_as_time_passes_and_clears_as_soon_as_the_worker_answers(asgi_server_factory):
    server = asgi_server_factory(RATELIMIT_ENABLE="false", FIRST_RESPONSE_TIMEOUT_SECONDS="1",
                                 OPS_LIVE_REFRESH_SECONDS="4")
    worker = on_shift_worker(connected=False)
    ops = StaffFactory(role="ops")
    board_uri = f"{server.ws_url}/ws/ops/live/?token={token_for(ops)}"
    agent_uri = f"{server.ws_url}/ws/agent/?token={token_for(worker.user)}"

    async def scenario():
        async with connect(agent_uri) as agent, connect(board_uri) as board_socket:
            ticket = await asyncio.to_thread(open_ticket_over_http, server)
            assert ticket["status"] == "assigned"
            # No write happens while the first-response time runs out: the periodic snapshot shows it.
            board, _ = await board_until(board_socket, lambda b: b["sla_breaches"] != [], timeout=10)
            assert [(b["ticket"], b["worker"]) for b in board["sla_breaches"]] == [(ticket["id"], worker.pk)]

            answered = time.monotonic()
            await agent.send(json.dumps({"type": "message", "ticket": ticket["id"], "body": "Hello Ana",
                                         "client_id": "w-1"}))
            await board_until(board_socket, lambda b: b["sla_breaches"] == [], timeout=4)
            # Well before the next periodic snapshot (4 s after the last): the reply pushed it.
            assert time.monotonic() - answered < 2.5

    asyncio.run(scenario())

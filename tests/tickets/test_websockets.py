"""Live chat over real ASGI servers (uvicorn) sharing the test database and the Redis layer."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import httpx
import pytest
from django.db import connection

from tests.factories.accounts import api_token_for
from tests.factories.tickets import TicketFactory, on_shift_worker
from tests.servers import free_port
from tests.tickets.wsclient import connect, open_ticket_over_http, recv, recv_type, refused, silent
from tickets.models import Message, Ticket
from workers.models import AgentPresence

pytestmark = [pytest.mark.slow]

NO_LIMITS = {"RATELIMIT_ENABLE": "false"}


def agent_uri(server, worker) -> str:
    return f"{server.ws_url}/ws/agent/?token={api_token_for(worker.user)}"


def customer_uri(server, ticket: dict, after: int | None = None) -> str:
    uri = f"{server.ws_url}/ws/tickets/{ticket['id']}/?token={ticket['token']}"
    return uri if after is None else f"{uri}&after={after}"


def test_customer_and_worker_on_two_servers_chat_both_ways(asgi_server_factory):
    customer_server, worker_server = asgi_server_factory(**NO_LIMITS), asgi_server_factory(**NO_LIMITS)
    worker = on_shift_worker(connected=False)
    agent_url = agent_uri(worker_server, worker)

    async def scenario():
        async with connect(agent_url) as agent:
            assert await silent(agent, 0.3) == []
            ticket = await asyncio.to_thread(open_ticket_over_http, customer_server)
            assert ticket["status"] == "assigned"
            assigned = await recv_type(agent, "ticket.assigned")
            detail = httpx.get(f"{customer_server.url}/api/v1/tickets/{ticket['id']}/",
                               headers={"X-Ticket-Token": ticket["token"]}).json()
            assert assigned["ticket"] == {k: v for k, v in detail.items() if k != "queue_position"}
            assert assigned["ticket"]["assigned_worker"] == worker.pk

            async with connect(customer_uri(customer_server, ticket, after=0)) as customer:
                first = await recv(customer)
                assert (first["type"], first["seq"], first["sender"], first["body"]) == (
                    "message", 1, "customer", "Where is my refund?")

                await customer.send(json.dumps({"type": "message", "body": "Order 42", "client_id": "c-1"}))
                ack = await recv_type(customer, "message")
                got = await recv_type(agent, "message")
                assert ack == got
                assert {k: ack[k] for k in ("type", "ticket", "seq", "sender", "body", "client_id", "internal")} == {
                    "type": "message", "ticket": ticket["id"], "seq": 2, "sender": "customer", "body": "Order 42",
                    "client_id": "c-1", "internal": False}

                await agent.send(json.dumps({"type": "message", "ticket": ticket["id"], "body": "Checking",
                                             "client_id": "w-1"}))
                assert (await recv_type(agent, "message"))["seq"] == 3
                reply = await recv_type(customer, "message")
                assert (reply["seq"], reply["sender"], reply["body"]) == (3, "worker", "Checking")

                await agent.send(json.dumps({"type": "message", "ticket": ticket["id"], "body": "VIP",
                                             "client_id": "w-2", "internal": True}))
                assert (await recv_type(agent, "message"))["internal"] is True

                # The same client_id again: the stored message comes back, nothing new is stored or relayed.
                await customer.send(json.dumps({"type": "message", "body": "Order 42 (retry)", "client_id": "c-1"}))
                again = await recv_type(customer, "message")
                # Read back from the database, it is the first answer exactly (sent_at included): the
                # event a socket message is answered with is the stored message's.
                assert again == ack

                for i in range(5):
                    await customer.send(json.dumps({"type": "message", "body": f"c{i}", "client_id": f"c-n{i}"}))
                    await agent.send(json.dumps({"type": "message", "ticket": ticket["id"], "body": f"w{i}",
                                                 "client_id": f"w-n{i}"}))
                agent_seqs = [(await recv_type(agent, "message"))["seq"] for _ in range(10)]
                customer_seqs = [(await recv_type(customer, "message"))["seq"] for _ in range(10)]
                assert agent_seqs == list(range(5, 15))
                assert customer_seqs == list(range(5, 15))
                assert await silent(customer, 0.3) == []
                assert await silent(agent, 0.3) == []
        return ticket

    ticket = asyncio.run(scenario())
    stored = list(Message.objects.filter(ticket_id=ticket["id"]).order_by("seq").values_list("seq", flat=True))
    assert stored == list(range(1, 15))
    assert Message.objects.filter(ticket_id=ticket["id"], client_id="c-1").count() == 1


def test_reconnect_with_after_replays_missed_messages_in_order(asgi_server_factory):
    server = asgi_server_factory(**NO_LIMITS)
    worker = on_shift_worker(connected=False)
    agent_url = agent_uri(server, worker)

    async def scenario():
        async with connect(agent_url) as agent:
            ticket = await asyncio.to_thread(open_ticket_over_http, server)
            await recv_type(agent, "ticket.assigned")
            async with connect(customer_uri(server, ticket)) as customer:
                await customer.send(json.dumps({"type": "message", "body": "hi", "client_id": "a"}))
                assert (await recv_type(customer, "message"))["seq"] == 2
            for i in range(3):
                await agent.send(json.dumps({"type": "message", "ticket": ticket["id"], "body": f"while away {i}",
                                             "client_id": f"w{i}"}))
            await agent.send(json.dumps({"type": "message", "ticket": ticket["id"], "body": "note",
                                         "client_id": "note", "internal": True}))
            for _ in range(5):
                await recv_type(agent, "message")
            async with connect(customer_uri(server, ticket, after=2)) as customer:
                replayed = [await recv(customer) for _ in range(3)]
                assert [(e["seq"], e["body"]) for e in replayed] == [
                    (3, "while away 0"), (4, "while away 1"), (5, "while away 2")]
                await agent.send(json.dumps({"type": "message", "ticket": ticket["id"], "body": "live",
                                             "client_id": "live"}))
                live = await recv_type(customer, "message")
                assert (live["seq"], live["body"]) == (7, "live")
                assert await silent(customer, 0.3) == []

    asyncio.run(scenario())


def test_customer_token_opens_its_own_ticket_only_and_foreign_origins_are_refused(asgi_server_factory):
    port = free_port()
    # Our own origin (with its port) is trusted through CSRF_TRUSTED_ORIGINS, as in production.
    server = asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
                                 WIDGET_ALLOWED_ORIGINS="https://shop.example", **NO_LIMITS)
    worker = on_shift_worker(connected=False)
    suspended = on_shift_worker(connected=False, status="suspended")
    mine, other = TicketFactory(), TicketFactory()
    token = api_token_for(worker.user)
    suspended_token = api_token_for(suspended.user)
    base = server.ws_url

    async def scenario():
        assert await refused(f"{base}/ws/tickets/{other.id}/?token={mine.token}") == 403
        assert await refused(f"{base}/ws/tickets/{mine.id}/") == 403
        assert await refused(f"{base}/ws/tickets/{mine.id}/?token=nope") == 403
        assert await refused(f"{base}/ws/tickets/{mine.id}/?token={token}") == 403
        assert await refused(f"{base}/ws/tickets/{mine.id}/?token={mine.token}",
                             origin="https://evil.example") == 403
        assert await refused(f"{base}/ws/agent/") == 403
        assert await refused(f"{base}/ws/agent/?token={mine.token}") == 403
        assert await refused(f"{base}/ws/agent/?token={token}", origin="https://evil.example") == 403
        assert await refused(f"{base}/ws/agent/?token={token}", origin="https://shop.example") == 403
        assert await refused(f"{base}/ws/agent/?token={suspended_token}") == 403  # not approved
        async with connect(f"{base}/ws/tickets/{mine.id}/?token={mine.token}&after=0",
                           origin="https://shop.example") as customer:
            assert (await recv(customer))["seq"] == 1
        async with connect(f"{base}/ws/tickets/{mine.id}/?token={mine.token}",
                           origin=server.url) as customer:
            assert await silent(customer, 0.2) == []

    asyncio.run(scenario())
    assert not AgentPresence.objects.filter(worker=worker, connections__gt=0).exists()
    assert not AgentPresence.objects.filter(worker=suspended).exists()
    assert Message.objects.filter(ticket=other).count() == 1
    status = httpx.get(f"{server.url}/api/v1/tickets/{other.id}/", headers={"X-Ticket-Token": mine.token})
    assert status.status_code == 404


def test_bad_frames_get_error_events_and_the_socket_stays_usable(asgi_server_factory):
    server = asgi_server_factory(**NO_LIMITS)
    ticket = TicketFactory()

    async def scenario():
        async with connect(f"{server.ws_url}/ws/tickets/{ticket.id}/?token={ticket.token}") as customer:
            frames = ["not json", "[1, 2]", json.dumps({"type": "shout", "body": "x"}),
                      json.dumps({"body": "no type"}),
                      json.dumps({"type": "message", "client_id": "a"}),
                      json.dumps({"type": "message", "body": "no client id"}),
                      json.dumps({"type": "message", "body": "x" * 4001, "client_id": "long"}),
                      json.dumps({"type": "message", "body": "other", "client_id": "o", "ticket": ticket.id + 999})]
            errors = []
            for frame in frames:
                await customer.send(frame)
                errors.append(await recv(customer))
            assert [e["code"] for e in errors] == ["malformed_frame", "malformed_frame", "unknown_type",
                                                  "unknown_type", "invalid", "invalid", "invalid", "not_found"]
            assert all(e["type"] == "error" and e["detail"] for e in errors)
            await customer.send(json.dumps({"type": "message", "body": "x" * 4000, "client_id": "ok"}))
            ack = await recv(customer)
            assert (ack["type"], ack["seq"], len(ack["body"])) == ("message", 2, 4000)

    asyncio.run(scenario())
    assert list(Message.objects.filter(ticket=ticket).values_list("seq", "client_id")) == [(1, ""), (2, "ok")]


def test_messages_over_the_socket_rate_limit_get_an_error(asgi_server_factory):
    server = asgi_server_factory(RATE_TICKET_MESSAGE="3/min")
    ticket = TicketFactory()

    async def scenario():
        async with connect(f"{server.ws_url}/ws/tickets/{ticket.id}/?token={ticket.token}") as customer:
            for i in range(5):
                await customer.send(json.dumps({"type": "message", "body": f"m{i}", "client_id": f"m{i}"}))
            return [await recv(customer) for _ in range(5)]

    replies = asyncio.run(scenario())
    assert [r.get("seq") or r["code"] for r in replies] == [2, 3, 4, "rate_limited", "rate_limited"]
    assert Message.objects.filter(ticket=ticket).count() == 4


def test_typing_is_relayed_and_agent_gets_held_tickets_on_connect(asgi_server_factory):
    server = asgi_server_factory(**NO_LIMITS)
    worker = on_shift_worker(connected=False)
    held = TicketFactory(status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
    agent_url = agent_uri(server, worker)

    async def scenario():
        async with connect(agent_url) as agent:
            first = await recv(agent)
            assert first["type"] == "ticket.assigned"
            shown = first["ticket"]
            assert (shown["id"], shown["status"], shown["assigned_worker"], shown["last_seq"]) == (
                held.id, "assigned", worker.pk, held.last_seq)
            assert (shown["customer_name"], shown["customer_email"], shown["language"], shown["topic"]) == (
                held.customer_name, held.customer_email, held.language, held.topic_id)
            assert dt.datetime.fromisoformat(shown["created_at"]) == held.created_at
            assert shown["resolved_at"] is None and shown["rating"] is None
            async with connect(f"{server.ws_url}/ws/tickets/{held.id}/?token={held.token}") as customer:
                await customer.send(json.dumps({"type": "typing"}))
                assert await recv(agent) == {"type": "typing", "ticket": held.id, "sender": "customer"}
                await agent.send(json.dumps({"type": "typing", "ticket": held.id}))
                assert await recv(customer) == {"type": "typing", "ticket": held.id, "sender": "worker"}
                await agent.send(json.dumps({"type": "typing", "ticket": held.id + 1000}))
                assert (await recv(agent))["code"] == "not_found"

    asyncio.run(scenario())
    presence = AgentPresence.objects.get(worker=worker)
    for _ in range(20):
        presence.refresh_from_db()
        if presence.connections == 0:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert presence.connections == 0
    assert presence.disconnected_at is not None
    assert Ticket.objects.get(pk=held.id).status == "assigned"


def test_after_a_transfer_only_the_new_holders_console_relays_the_customer(asgi_server_factory):
    """Chat messages are published once, on the ticket's group, where the holder's consoles listen:
    the worker who handed the ticket over hears nothing more of it, the new holder hears it all,
    the customer's history included, and nobody gets the customer's side of the events twice."""
    from tests.factories.workers import StaffFactory

    server = asgi_server_factory(**NO_LIMITS)
    first, second = on_shift_worker(connected=False), on_shift_worker(connected=False)
    held = TicketFactory(status="assigned", assigned_worker=first, assigned_claim=first.claim)
    ops_headers = {"Authorization": f"Token {api_token_for(StaffFactory(role='ops'))}"}
    first_url, second_url = agent_uri(server, first), agent_uri(server, second)

    async def scenario():
        async with connect(first_url) as old, connect(second_url) as new, \
                connect(f"{server.ws_url}/ws/tickets/{held.id}/?token={held.token}") as customer:
            assert (await recv_type(old, "ticket.assigned"))["ticket"]["id"] == held.id
            await customer.send(json.dumps({"type": "message", "body": "Before", "client_id": "c-1"}))
            assert (await recv_type(old, "message"))["body"] == "Before"
            assert await silent(new, 0.3) == []

            moved = await asyncio.to_thread(
                httpx.post, f"{server.url}/api/v1/tickets/{held.id}/transfer/", headers=ops_headers,
                json={"to_worker": second.pk, "reason": "Language"})
            assert moved.status_code == 200, moved.text
            assert (await recv_type(old, "ticket.transferred"))["ticket"] == held.id
            assigned = await recv_type(new, "ticket.assigned")
            assert assigned["ticket"]["id"] == held.id

            await customer.send(json.dumps({"type": "message", "body": "After", "client_id": "c-2"}))
            after = await recv_type(new, "message")
            assert (after["seq"], after["body"]) == (assigned["ticket"]["last_seq"] + 1, "After")
            assert await silent(old, 0.5) == []  # nothing more of a ticket it no longer holds
            assert await silent(new, 0.3) == []  # and the new holder got it once

    asyncio.run(scenario())


def test_waiting_customer_sees_queue_position_then_assignment_and_resolution(asgi_server_factory):
    server = asgi_server_factory(**NO_LIMITS)
    worker = on_shift_worker(connected=False, cap=1)
    agent_url = agent_uri(server, worker)
    worker_token = api_token_for(worker.user)

    async def scenario():
        first = await asyncio.to_thread(open_ticket_over_http, server)
        second = await asyncio.to_thread(open_ticket_over_http, server, email="bo@example.com")
        assert (first["queue_position"], second["queue_position"]) == (1, 2)
        async with connect(customer_uri(server, second)) as customer:
            async with connect(agent_url) as agent:
                assert (await recv_type(agent, "ticket.assigned"))["ticket"]["id"] == first["id"]
                assert await recv_type(customer, "queue.position") == {
                    "type": "queue.position", "ticket": second["id"], "position": 1}
                resolved = await asyncio.to_thread(
                    httpx.post, f"{server.url}/api/v1/tickets/{first['id']}/resolve/",
                    json={"resolution": "Done"}, headers={"Authorization": f"Token {worker_token}"})
                assert resolved.status_code == 200
                assert await recv_type(agent, "ticket.resolved") == {"type": "ticket.resolved", "ticket": first["id"]}
                assigned = await recv_type(agent, "ticket.assigned")
                assert assigned["ticket"]["id"] == second["id"]
                assert (await recv_type(customer, "ticket.assigned"))["ticket"]["assigned_worker"] == worker.pk
                await agent.send(json.dumps({"type": "message", "ticket": second["id"], "body": "Hello Bo",
                                             "client_id": "w"}))
                assert (await recv_type(customer, "message"))["body"] == "Hello Bo"

    asyncio.run(scenario())


def test_http_messages_reach_the_sockets_and_a_lost_console_hands_its_tickets_over(asgi_server_factory,
                                                                                    settings):
    from tickets import tasks

    server = asgi_server_factory(**NO_LIMITS)
    first, second = on_shift_worker(connected=False), on_shift_worker(connected=False)
    first_url, second_url = agent_uri(server, first), agent_uri(server, second)

    async def scenario():
        async with connect(second_url) as late_agent:
            await late_agent.close()  # only to create its presence; it comes back below
        async with connect(first_url) as agent:
            ticket = await asyncio.to_thread(open_ticket_over_http, server)
            assert (await recv_type(agent, "ticket.assigned"))["ticket"]["id"] == ticket["id"]
            posted = await asyncio.to_thread(
                httpx.post, f"{server.url}/api/v1/tickets/{ticket['id']}/messages/",
                json={"body": "via HTTP", "client_id": "h1"}, headers={"X-Ticket-Token": ticket["token"]})
            assert posted.status_code == 201
            live = await recv_type(agent, "message")
            assert (live["seq"], live["body"], live["client_id"]) == (2, "via HTTP", "h1")
        return ticket

    ticket = asyncio.run(scenario())
    settings.SHIFTLINE = {**settings.SHIFTLINE, "PRESENCE_GRACE": dt.timedelta(0)}

    def expire_in_thread() -> int:
        try:
            return tasks.presence_expire()
        finally:
            connection.close()

    async def handover():
        async with connect(second_url) as agent:
            await silent(agent, 0.3)
            moved = await asyncio.to_thread(expire_in_thread)
            assigned = await recv_type(agent, "ticket.assigned")
            return moved, assigned

    moved, assigned = asyncio.run(handover())
    assert moved == 1
    assert (assigned["ticket"]["id"], assigned["ticket"]["assigned_worker"]) == (ticket["id"], second.pk)
    held = Ticket.objects.get(pk=ticket["id"])
    assert (held.previous_worker_id, held.queue_priority) == (first.pk, -1)
    if hasattr(connection, "close_pool"):
        connection.close_pool()  # the thread's pooled connection would outlive the test database


def test_open_consoles_keep_their_presence_fresh_and_a_closed_one_stops(asgi_server_factory):
    server = asgi_server_factory(PRESENCE_HEARTBEAT_SECONDS="0.5", **NO_LIMITS)
    staying, leaving = on_shift_worker(connected=False), on_shift_worker(connected=False)
    staying_url, leaving_url = agent_uri(server, staying), agent_uri(server, leaving)

    def last_seen() -> dict[int, dt.datetime]:
        try:
            return dict(AgentPresence.objects.filter(worker_id__in=[staying.pk, leaving.pk])
                        .values_list("worker_id", "last_seen_at"))
        finally:
            connection.close()

    async def scenario():
        async with connect(staying_url), connect(leaving_url) as leaving_socket:
            opened = await asyncio.to_thread(last_seen)
            await asyncio.sleep(1.6)
            beaten = await asyncio.to_thread(last_seen)
            await leaving_socket.close()
            await asyncio.sleep(0.3)
            closed = await asyncio.to_thread(last_seen)
            await asyncio.sleep(1.6)
            later = await asyncio.to_thread(last_seen)
        return opened, beaten, closed, later

    opened, beaten, closed, later = asyncio.run(scenario())
    assert beaten[staying.pk] > opened[staying.pk] and beaten[leaving.pk] > opened[leaving.pk]
    assert later[staying.pk] > closed[staying.pk]
    assert later[leaving.pk] == closed[leaving.pk]  # no beat for a console that is gone
    assert AgentPresence.objects.get(worker_id=leaving.pk).connections == 0

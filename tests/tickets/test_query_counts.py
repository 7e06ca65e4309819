"""Every list endpoint of the tickets app runs the same number of queries for N rows as for 3N."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories.tickets import CannedResponseFactory, TicketFactory, on_shift_worker
from tickets.models import Message, MessageSender, Ticket

pytestmark = pytest.mark.django_db


def count_queries(client, path: str, **headers) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, **headers)
    assert response.status_code == 200, response.content[:300]
    return len(queries), response.json()


def add_messages(ticket: Ticket, n: int) -> None:
    first = ticket.last_seq + 1
    Message.objects.bulk_create([Message(ticket=ticket, seq=seq, sender=MessageSender.CUSTOMER, body=f"m{seq}",
                                         client_id=f"c{seq}") for seq in range(first, first + n)])
    Ticket.objects.filter(pk=ticket.pk).update(last_seq=first + n - 1)


def test_ticket_list_query_count_is_pinned(ops_client):
    TicketFactory.create_batch(5)
    small, body = count_queries(ops_client, "/api/v1/tickets/")
    assert body["count"] == 5
    TicketFactory.create_batch(10)
    large, body = count_queries(ops_client, "/api/v1/tickets/")
    assert body["count"] == 15

    assert small == large == 3


def test_ticket_list_for_a_worker_query_count_is_pinned(client_for):
    worker = on_shift_worker(cap=20)
    TicketFactory.create_batch(5, status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
    client = client_for(worker.user)
    small, body = count_queries(client, "/api/v1/tickets/")
    assert body["count"] == 5
    TicketFactory.create_batch(10, status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
    large, body = count_queries(client, "/api/v1/tickets/")
    assert body["count"] == 15

    assert small == large == 3


def test_messages_query_count_is_pinned_for_customer_and_staff(ops_client, customer_client):
    ticket = TicketFactory()
    customer = customer_client(ticket.token)
    add_messages(ticket, 5)
    small_customer, body = count_queries(customer, f"/api/v1/tickets/{ticket.id}/messages/")
    assert body["count"] == 6
    small_staff, _ = count_queries(ops_client, f"/api/v1/tickets/{ticket.id}/messages/")
    ticket.refresh_from_db()
    add_messages(ticket, 12)
    large_customer, body = count_queries(customer, f"/api/v1/tickets/{ticket.id}/messages/")
    assert body["count"] == 18
    large_staff, _ = count_queries(ops_client, f"/api/v1/tickets/{ticket.id}/messages/")

    assert small_customer == large_customer == 3
    assert small_staff == large_staff == 4


def test_history_query_count_is_pinned(ops_client):
    ticket = TicketFactory(customer_key="cust-7")
    TicketFactory.create_batch(3, customer_key="cust-7")
    small, body = count_queries(ops_client, f"/api/v1/tickets/{ticket.id}/history/")
    assert len(body["results"]) == 3
    TicketFactory.create_batch(6, customer_key="cust-7")
    large, body = count_queries(ops_client, f"/api/v1/tickets/{ticket.id}/history/")
    assert len(body["results"]) == 9

    assert small == large == 3


def test_transfer_targets_query_count_is_pinned(ops_client):
    holder = on_shift_worker()
    ticket = TicketFactory(status="assigned", assigned_worker=holder, assigned_claim=holder.claim)
    for _ in range(2):
        on_shift_worker()
    small, body = count_queries(ops_client, f"/api/v1/tickets/{ticket.id}/transfer-targets/")
    assert len(body["results"]) == 2
    for _ in range(4):
        on_shift_worker()
    large, body = count_queries(ops_client, f"/api/v1/tickets/{ticket.id}/transfer-targets/")
    assert len(body["results"]) == 6

    assert small == large == 7


def test_canned_responses_query_count_is_pinned(ops_client):
    CannedResponseFactory.create_batch(3)
    small, body = count_queries(ops_client, "/api/v1/tickets/canned-responses/")
    assert len(body["results"]) == 3
    CannedResponseFactory.create_batch(6)
    large, body = count_queries(ops_client, "/api/v1/tickets/canned-responses/")
    assert len(body["results"]) == 9

    assert small == large == 2


def test_live_board_query_count_is_pinned(ops_client):
    workers = [on_shift_worker(cap=20) for _ in range(2)]
    for worker in workers:
        TicketFactory(status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
    TicketFactory.create_batch(2)
    small, body = count_queries(ops_client, "/api/v1/tickets/live-board/")
    assert len(body["workers"]) == 2
    workers += [on_shift_worker(cap=20) for _ in range(4)]
    for worker in workers:
        TicketFactory.create_batch(2, status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
    TicketFactory.create_batch(4)
    large, body = count_queries(ops_client, "/api/v1/tickets/live-board/")
    assert len(body["workers"]) == 6

    assert small == large == 8

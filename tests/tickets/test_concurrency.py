"""Routing under real concurrency: threads against PostgreSQL, each with its own connection."""

import threading
from collections import Counter

import pytest
from django.db import connection

from tests.factories.tickets import on_shift_worker
from tickets.models import Ticket, TicketEvent
from tickets.services import ticket_create
from workers.services.claims import shift_check_in

pytestmark = pytest.mark.slow


def run_at_once(jobs: list) -> list[BaseException]:
    barrier = threading.Barrier(len(jobs))
    failures: list[BaseException] = []

    def runner(job):
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if hasattr(connection, "close_pool"):
        connection.close_pool()  # the threads' pooled connections would outlive the test database
    return failures


def test_30_tickets_while_5_workers_check_in_are_each_assigned_once_and_nobody_goes_over_cap(transactional_db):
    workers = [on_shift_worker(checked_in=False, cap=6) for _ in range(5)]
    jobs = [lambda i=i: ticket_create(name=f"C{i}", email=f"c{i}@example.com", language="en", topic="general",
                                      message=f"Help {i}") for i in range(30)]
    jobs += [lambda w=w: shift_check_in(worker_id=w.pk, shift_id=w.claim.shift_id) for w in workers]

    failures = run_at_once(jobs)

    assert failures == []
    tickets = list(Ticket.objects.all())
    assert len(tickets) == 30
    assert Counter(t.status for t in tickets) == {"assigned": 30}
    loads = Counter(t.assigned_worker_id for t in tickets)
    assert loads == {w.pk: 6 for w in workers}
    assignments = Counter(TicketEvent.objects.filter(kind="assigned").values_list("ticket_id", flat=True))
    assert sorted(assignments.values()) == [1] * 30
    assert all(t.last_seq == 1 and t.messages.count() == 1 for t in tickets)


def test_more_tickets_than_capacity_fill_every_seat_and_queue_the_rest(transactional_db):
    workers = [on_shift_worker(checked_in=False, cap=2) for _ in range(3)]
    jobs = [lambda i=i: ticket_create(name=f"C{i}", email=f"c{i}@example.com", language="en", topic="general",
                                      message=f"Help {i}") for i in range(12)]
    jobs += [lambda w=w: shift_check_in(worker_id=w.pk, shift_id=w.claim.shift_id) for w in workers]

    assert run_at_once(jobs) == []

    loads = Counter(Ticket.objects.filter(status="assigned").values_list("assigned_worker_id", flat=True))
    assert loads == {w.pk: 2 for w in workers}
    assert Ticket.objects.filter(status="queued").count() == 6
    assert TicketEvent.objects.filter(kind="assigned").count() == 6


def test_concurrent_messages_get_gapless_seqs_and_repeated_client_ids_are_stored_once(transactional_db):
    from tests.factories.tickets import TicketFactory
    from tickets.models import Message
    from tickets.services import message_post

    ticket = TicketFactory()
    results: list = []
    # 24 posts, each client_id sent twice at the same moment: 12 messages must be stored.
    jobs = [lambda i=i: results.append(message_post(ticket_id=ticket.pk, body=f"m{i // 2}",
                                                    client_id=f"c{i // 2}")) for i in range(24)]

    assert run_at_once(jobs) == []

    seqs = list(Message.objects.filter(ticket=ticket).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 14))
    assert Message.objects.filter(ticket=ticket).values("client_id").distinct().count() == 13
    assert sorted(created for _, created in results) == [False] * 12 + [True] * 12
    by_client = {}
    for message, _ in results:
        by_client.setdefault(message.client_id, set()).add(message.seq)
    assert all(len(seq_set) == 1 for seq_set in by_client.values())
    ticket.refresh_from_db()
    assert ticket.last_seq == 13

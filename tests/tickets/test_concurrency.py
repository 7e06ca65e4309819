"""Routing under real concurrency: threads against PostgreSQL, each with its own connection."""

import threading
from collections import Counter

import pytest
from django.db import connection

from tests.factories.tickets import on_shift_worker
from tickets.models import Ticket, TicketEvent
from tickets.services import ticket_create
from workers.services import shift_check_in

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

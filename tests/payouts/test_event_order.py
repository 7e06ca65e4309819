"""Events relayed out of order, through a real Celery worker: a rating or a reopen handled before
its resolve's case pay is retried by the relay within a second, not left to the 30 s sweep."""

from __future__ import annotations

import time

import pytest

from kernel.outbox.models import OutboxEvent
from marketplace.celery import app as celery_app
from payouts.models import Earning
from tests.factories.payouts import ResolvedTicketFactory, record_rated, record_reopened, record_resolved
from tests.factories.workers import WorkerFactory
from tests.servers import wait_until

pytestmark = [pytest.mark.slow]


def test_bonus_and_void_handled_before_their_resolve_follow_it_within_two_seconds(celery_worker_process,
                                                                                    monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)  # relays go to the worker process
    worker = WorkerFactory()
    rated_ticket, reopened_ticket = (ResolvedTicketFactory(assigned_worker=worker) for _ in range(2))
    early = [record_rated(rated_ticket, score=5), record_reopened(reopened_ticket)]

    def early_events():
        return sorted(OutboxEvent.objects.filter(pk__in=[e.pk for e in early]), key=lambda e: e.topic)

    # The worker handled both before any case pay existed: not ready, nothing recorded.
    wait_until(lambda: all(e.attempts >= 2 for e in early_events()),
               15, "the early events to be tried", celery_worker_process.log, interval=0.05)
    assert not Earning.objects.exists()
    not_ready = ("payouts.earnings.earning_on_ticket_{}: retry: "
                 "The case pay this event refers to has not been posted yet.")
    assert [e.last_error for e in early_events()] == [not_ready.format("rated"), not_ready.format("reopened")]

    resolved_at = time.monotonic()
    record_resolved(rated_ticket)
    record_resolved(reopened_ticket)
    wait_until(lambda: not OutboxEvent.objects.filter(delivered_at__isnull=True).exists(), 15,
               "every event to be delivered", celery_worker_process.log, interval=0.05)
    elapsed = time.monotonic() - resolved_at
    print(f"bonus and void {elapsed:.2f} s after the resolve")

    assert sorted(Earning.objects.values_list("ticket_id", "kind", "amount", "status")) == [
        (rated_ticket.pk, "case_pay", 500, "pending"),
        (rated_ticket.pk, "csat_bonus", 100, "pending"),
        (reopened_ticket.pk, "case_pay", 500, "voided"),
    ]
    assert elapsed < 2.0, f"the bonus and the void took {elapsed:.2f} s after the resolve"

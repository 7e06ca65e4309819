"""Earning rules, driven through the real tickets services and the outbox relay."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from kernel.outbox.models import ConsumedEvent, OutboxEvent
from kernel.outbox.services import outbox_consume_batch, outbox_deliver, outbox_drain
from payouts import earnings, ledger, rate_card, selectors
from payouts.earnings import ResolvedCase
from payouts.models import Earning, EarningStatus, JournalTransaction
from tests.factories.payouts import ResolvedTicketFactory, record_rated, record_resolved
from tests.factories.tickets import TicketFactory, on_shift_worker
from tests.factories.workers import WorkerFactory
from tickets import services as tickets_services
from tickets.models import TicketStatus

RESOLVED_CONSUMER = "payouts.earnings.earnings_on_tickets_resolved"


def _assigned_ticket(worker):
    return TicketFactory(status=TicketStatus.ASSIGNED, assigned_worker=worker, assigned_claim=worker.claim,
                         assigned_at=timezone.now())


def _resolve(ticket, worker, capture):
    with capture(execute=True):
        tickets_services.ticket_resolve(ticket_id=ticket.pk, user=worker.user, resolution="Refund sent.")


def test_resolve_earns_base_times_claim_multiplier_pending(db, django_capture_on_commit_callbacks):
    worker = on_shift_worker(rate_multiplier="1.25")
    ticket = _assigned_ticket(worker)

    _resolve(ticket, worker, django_capture_on_commit_callbacks)

    earning = Earning.objects.get(ticket=ticket)
    assert (earning.kind, earning.amount, earning.currency, earning.status) == ("case_pay", 625, "eur", "pending")
    assert earning.multiplier == Decimal("1.25")
    assert earning.rate_card.version == rate_card.rate_card_current().version
    assert earning.available_at == earning.earned_at + dt.timedelta(hours=72)
    assert selectors.balance_for_worker(worker) == {"currency": "eur", "pending": 625, "available": 0,
                                                    "in_transit": 0, "paid": 0}
    assert ledger.ledger_verify().ok


def test_case_pay_rounds_half_up_to_the_minor_unit(db, django_capture_on_commit_callbacks, finance_user):
    rate_card.rate_card_update(actor=finance_user, currency="eur", base_per_case=333, csat_bonus=100,
                              hold_hours=72, minimum_payout=2000)
    worker = on_shift_worker(rate_multiplier="1.50")  # 333 × 1.5 = 499.5
    ticket = _assigned_ticket(worker)

    _resolve(ticket, worker, django_capture_on_commit_callbacks)

    assert Earning.objects.get(ticket=ticket).amount == 500


def test_redelivered_resolve_event_posts_nothing_more(db, django_capture_on_commit_callbacks):
    worker = on_shift_worker()
    ticket = _assigned_ticket(worker)
    _resolve(ticket, worker, django_capture_on_commit_callbacks)
    event = OutboxEvent.objects.get(topic="ticket.resolved")

    # A relay that lost its bookkeeping: the handler itself runs again with the same payload.
    ConsumedEvent.objects.filter(event=event).delete()
    OutboxEvent.objects.filter(pk=event.pk).update(delivered_at=None)
    outbox_deliver(event_id=event.pk)
    earnings.earnings_on_tickets_resolved(events=[(event.pk, event.payload)])

    assert Earning.objects.filter(ticket=ticket).count() == 1
    assert JournalTransaction.objects.filter(kind="case_pay").count() == 1
    assert selectors.balance_for_worker(worker)["pending"] == 500


def test_five_star_rating_earns_the_csat_bonus(db, django_capture_on_commit_callbacks):
    worker = on_shift_worker()
    ticket = _assigned_ticket(worker)
    _resolve(ticket, worker, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        tickets_services.ticket_rate(ticket_id=ticket.pk, score=5, comment="Great")

    bonus = Earning.objects.get(ticket=ticket, kind="csat_bonus")
    assert (bonus.amount, bonus.status, bonus.worker_id) == (100, "pending", worker.pk)
    assert selectors.balance_for_worker(worker)["pending"] == 600


def test_four_star_rating_earns_no_bonus(db, django_capture_on_commit_callbacks):
    worker = on_shift_worker()
    ticket = _assigned_ticket(worker)
    _resolve(ticket, worker, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        tickets_services.ticket_rate(ticket_id=ticket.pk, score=4)

    assert not Earning.objects.filter(ticket=ticket, kind="csat_bonus").exists()
    assert selectors.balance_for_worker(worker)["pending"] == 500


def test_reopen_within_hold_voids_case_pay_and_bonus(db, django_capture_on_commit_callbacks):
    worker = on_shift_worker()
    ticket = _assigned_ticket(worker)
    _resolve(ticket, worker, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        tickets_services.ticket_rate(ticket_id=ticket.pk, score=5)

    with django_capture_on_commit_callbacks(execute=True):
        tickets_services.ticket_reopen(ticket_id=ticket.pk)

    assert set(Earning.objects.filter(ticket=ticket).values_list("kind", "status")) == {
        ("case_pay", "voided"), ("csat_bonus", "voided")}
    assert JournalTransaction.objects.filter(kind="void").count() == 2
    assert selectors.balance_for_worker(worker)["pending"] == 0
    assert ledger.ledger_verify().ok


def test_reopen_after_the_hold_voids_nothing(db):
    worker = WorkerFactory()
    ticket = ResolvedTicketFactory(assigned_worker=worker)
    resolved_at = timezone.now() - dt.timedelta(hours=80)
    earnings.earnings_post_case_pay(cases=[ResolvedCase(ticket_id=ticket.pk, worker_id=worker.pk,
                                                         multiplier=Decimal("1"), resolved_at=resolved_at)])
    earnings.earnings_settle()

    voided = earnings.earnings_void_for_reopen(ticket_id=ticket.pk, resolution_n=1, reopened_at=timezone.now())

    assert voided == []
    assert Earning.objects.get(ticket=ticket).status == EarningStatus.AVAILABLE
    assert selectors.balance_for_worker(worker)["available"] == 500


def test_rating_relayed_before_its_resolve_waits_and_then_pays(db, django_capture_on_commit_callbacks):
    worker = WorkerFactory()
    ticket = ResolvedTicketFactory(assigned_worker=worker)
    with django_capture_on_commit_callbacks(execute=True):
        rated = record_rated(ticket, score=5)

    assert not Earning.objects.exists()
    assert OutboxEvent.objects.get(pk=rated.pk).delivered_at is None  # retried by outbox.redeliver

    with django_capture_on_commit_callbacks(execute=True):
        record_resolved(ticket)
    outbox_deliver(event_id=rated.pk)

    assert sorted(Earning.objects.values_list("kind", "amount")) == [("case_pay", 500), ("csat_bonus", 100)]


def test_settle_moves_only_earnings_whose_hold_passed(db):
    worker = WorkerFactory()
    old, new = ResolvedTicketFactory(assigned_worker=worker), ResolvedTicketFactory(assigned_worker=worker)
    earnings.earnings_post_case_pay(cases=[
        ResolvedCase(ticket_id=old.pk, worker_id=worker.pk, multiplier=Decimal("1"),
                     resolved_at=timezone.now() - dt.timedelta(hours=73)),
        ResolvedCase(ticket_id=new.pk, worker_id=worker.pk, multiplier=Decimal("1"),
                     resolved_at=timezone.now() - dt.timedelta(hours=71)),
    ])

    assert earnings.earnings_settle() == 1

    assert Earning.objects.get(ticket=old).status == "available"
    assert Earning.objects.get(ticket=new).status == "pending"
    assert selectors.balance_for_worker(worker) == {"currency": "eur", "pending": 500, "available": 500,
                                                    "in_transit": 0, "paid": 0}
    assert ledger.ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_settle_twice_at_once_settles_each_earning_once():
    workers = [WorkerFactory() for _ in range(5)]
    resolved_at = timezone.now() - dt.timedelta(hours=100)
    for worker in workers:
        for _ in range(40):
            ticket = ResolvedTicketFactory(assigned_worker=worker)
            earnings.earnings_post_case_pay(cases=[ResolvedCase(ticket_id=ticket.pk, worker_id=worker.pk,
                                                                 multiplier=Decimal("1"), resolved_at=resolved_at)])
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def settle():
        try:
            barrier.wait()
            counts.append(earnings.earnings_settle(workers_per_batch=2))
        finally:
            connection.close()

    threads = [threading.Thread(target=settle) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 200
    assert Earning.objects.filter(status="available").count() == 200
    for worker in workers:
        assert selectors.balance_for_worker(worker)["available"] == 40 * 500
    assert ledger.ledger_verify().ok


def test_batch_consumer_posts_each_resolved_event_once_beside_the_relay(db):
    workers = [WorkerFactory() for _ in range(3)]
    tickets = [ResolvedTicketFactory(assigned_worker=workers[i % 3]) for i in range(9)]
    events = [record_resolved(t, multiplier="1.25") for t in tickets]  # relays never ran (no commit)
    outbox_deliver(event_id=events[0].pk)  # the per-event relay got to one of them first

    taken = outbox_consume_batch(topic="ticket.resolved", consumer=RESOLVED_CONSUMER, limit=5)
    taken += outbox_consume_batch(topic="ticket.resolved", consumer=RESOLVED_CONSUMER, limit=5)
    for event in events:
        outbox_deliver(event_id=event.pk)

    assert taken == 8
    assert Earning.objects.count() == 9
    assert set(Earning.objects.values_list("amount", flat=True)) == {625}
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 0
    assert sum(selectors.balance_for_worker(w)["pending"] for w in workers) == 9 * 625
    assert ledger.ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_two_batch_consumers_at_once_post_each_case_once():
    worker = WorkerFactory()
    for _ in range(60):  # rows only: their relays were lost (a crash between commit and dispatch)
        ticket = ResolvedTicketFactory(assigned_worker=worker)
        OutboxEvent.objects.create(topic="ticket.resolved", payload={
            "ticket_id": ticket.pk, "worker_id": worker.pk, "claim_id": None, "rate_multiplier": "1.00",
            "resolution_n": 1, "resolved_at": timezone.now().isoformat()})
    taken: list[int] = []
    barrier = threading.Barrier(2)

    def consume():
        try:
            barrier.wait()
            taken.append(outbox_drain(batch=7))
        finally:
            connection.close()

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(taken) == 60
    assert Earning.objects.count() == 60
    assert selectors.balance_for_worker(worker)["pending"] == 60 * 500
    assert ledger.ledger_verify().ok

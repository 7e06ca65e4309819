"""factory_boy factories and helpers for the payouts app."""

from __future__ import annotations

import factory

from kernel.outbox.services import outbox_record
from payouts.models import RateCard
from tests.factories.tickets import TicketFactory
from tests.factories.workers import WorkerFactory
from tickets.models import TicketStatus
from workers.payout_account import payout_account_attach, payout_account_status_set


class RateCardFactory(factory.django.DjangoModelFactory):
    """The next rate-card version (EUR 5.00 a case by default)."""

    class Meta:
        model = RateCard

    version = factory.LazyFunction(lambda: (RateCard.objects.order_by("-version").values_list(
        "version", flat=True).first() or 0) + 1)
    currency = "eur"
    base_per_case = 500
    csat_bonus = 100
    hold_hours = 72
    minimum_payout = 2000


class ResolvedTicketFactory(TicketFactory):
    """A ticket resolved by `assigned_worker` (rows only: no outbox event is recorded)."""

    status = TicketStatus.RESOLVED
    assigned_worker = factory.SubFactory(WorkerFactory)
    resolved_by = factory.SelfAttribute("assigned_worker")
    resolution_count = 1


def record_resolved(ticket, *, worker_id: int | None = None, resolution_n: int = 1, multiplier: str = "1.00",
                    resolved_at=None):
    """Record `ticket.resolved` in the outbox exactly as tickets.services.ticket_resolve does."""
    from django.utils import timezone

    return outbox_record(topic="ticket.resolved", payload={
        "ticket_id": ticket.pk, "worker_id": worker_id or ticket.assigned_worker_id, "claim_id": None,
        "rate_multiplier": multiplier, "resolution_n": resolution_n,
        "resolved_at": (resolved_at or timezone.now()).isoformat(),
    })


def record_rated(ticket, *, score: int, worker_id: int | None = None, resolution_n: int = 1):
    return outbox_record(topic="ticket.rated", payload={
        "ticket_id": ticket.pk, "worker_id": worker_id or ticket.assigned_worker_id, "score": score,
        "resolution_n": resolution_n,
    })


def record_reopened(ticket, *, worker_id: int | None = None, resolution_n: int = 1, reopened_at=None):
    from django.utils import timezone

    return outbox_record(topic="ticket.reopened", payload={
        "ticket_id": ticket.pk, "worker_id": worker_id or ticket.assigned_worker_id,
        "resolution_n": resolution_n, "reopened_at": (reopened_at or timezone.now()).isoformat(),
    })


def make_ready(worker, account_id: str):
    """Give a worker a connected account in the `ready` state (as onboarding + webhook would)."""
    payout_account_attach(worker_id=worker.pk, stripe_account_id=account_id)
    payout_account_status_set(stripe_account_id=account_id, status="ready")
    worker.refresh_from_db()
    return worker

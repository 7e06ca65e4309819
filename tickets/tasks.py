"""Beat tasks of the tickets app: each reloads its rows, calls a service, and is safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from tickets.models import Message, MessageSender, Ticket, TicketStatus
from tickets.privacy import customer_data_purge
from tickets.selectors import on_shift_claims
from tickets.services import (
    agent_presence_reset_stale,
    ticket_abandon,
    ticket_requeue_unanswered,
    ticket_route,
    tickets_requeue_for_worker,
)
from workers.presence import presence_lost_workers


@shared_task(name="tickets.presence_expire", acks_late=True)
def presence_expire() -> int:
    """Tickets of workers gone past the grace period, or no longer on a running shift, go back to the
    front of the queue and are routed on."""
    agent_presence_reset_stale()
    now = timezone.now()
    holders = set(Ticket.objects.filter(status=TicketStatus.ASSIGNED).values_list("assigned_worker_id", flat=True))
    if not holders:
        return 0
    lost = set(presence_lost_workers(now=now).filter(worker_id__in=holders).values_list("worker_id", flat=True))
    on_shift = set(on_shift_claims(now=now).filter(worker_id__in=holders).values_list("worker_id", flat=True))
    moved = 0
    for worker_id in sorted(lost):
        moved += len(tickets_requeue_for_worker(worker_id=worker_id, kind="presence_lost",
                                                reason="Console disconnected past the grace period."))
    for worker_id in sorted(holders - on_shift - lost):
        moved += len(tickets_requeue_for_worker(worker_id=worker_id, kind="handed_over", reason="Shift ended."))
    return moved


@shared_task(name="tickets.first_response_timeout", acks_late=True)
def first_response_timeout() -> int:
    """Assigned tickets unanswered for FIRST_RESPONSE_TIMEOUT go back to the queue (missed assignment)."""
    timeout = settings.SHIFTLINE["FIRST_RESPONSE_TIMEOUT"]
    answered = Message.objects.filter(ticket_id=OuterRef("pk"), sender=MessageSender.WORKER, internal=False,
                                      sent_at__gte=OuterRef("assigned_at"))
    ids = list(Ticket.objects.filter(status=TicketStatus.ASSIGNED, assigned_at__lt=timezone.now() - timeout)
               .filter(~Exists(answered)).order_by("assigned_at").values_list("pk", flat=True)[:500])
    return sum(ticket_requeue_unanswered(ticket_id=pk, timeout=timeout) for pk in ids)


@shared_task(name="tickets.abandon_stale", acks_late=True)
def abandon_stale() -> int:
    """Queued tickets whose customer has not been seen for TICKET_ABANDON_AFTER are abandoned."""
    cutoff = timezone.now() - settings.SHIFTLINE["TICKET_ABANDON_AFTER"]
    ids = list(Ticket.objects.filter(status=TicketStatus.QUEUED).filter(
        Q(customer_last_seen_at__lt=cutoff) | Q(customer_last_seen_at__isnull=True, created_at__lt=cutoff))
        .values_list("pk", flat=True)[:500])
    return sum(ticket_abandon(ticket_id=pk, reason="The customer left while queued.") for pk in ids)


@shared_task(name="tickets.route", acks_late=True)
def route() -> int:
    """A periodic routing pass: catches capacity that appeared without an event (a shift starting)."""
    return len(ticket_route(notify_positions=False))


@shared_task(name="tickets.purge_personal_data", acks_late=True)
def purge_personal_data() -> int:
    """Daily: the customer data retention purge (safe to repeat)."""
    return customer_data_purge()

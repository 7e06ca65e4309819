"""Personal data in tickets: the customer retention purge and the transcripts of deleted workers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, Q, Value
from django.db.models.functions import Replace
from django.utils import timezone

from kernel.audit.models import AuditAction
from kernel.audit.services import record as audit_record
from tickets.models import Message, MessageSender, Ticket, TicketStatus
from tickets.services import tickets_requeue_for_worker
from workers.models import Worker

PURGED_NAME = "Customer"
PURGED_BODY = "[removed: data retention]"
PURGE_BATCH = 500


def customer_data_purge(*, now: dt.datetime | None = None, batch_size: int = PURGE_BATCH) -> int:
    """Anonymise the customer's name, email, identity key, rating comment and message bodies of
    every ticket closed (resolved or abandoned) more than `CUSTOMER_DATA_RETENTION_DAYS` ago.

    Workers' and system messages keep their text: a customer's words are the customer's data,
    and report figures (counts, times, ratings) read none of these columns, so they do not change.
    Batches of `batch_size` tickets, each its own transaction with its audit entry; a ticket is
    marked `customer_data_purged_at`, so running it again finds nothing (safe to repeat, and to
    run while another run is going: rows are taken with SKIP LOCKED). Returns how many tickets.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.CUSTOMER_DATA_RETENTION_DAYS)
    due = (Ticket.objects.filter(customer_data_purged_at__isnull=True)
           .filter(Q(status=TicketStatus.RESOLVED, resolved_at__lt=cutoff)
                   | Q(status=TicketStatus.ABANDONED, abandoned_at__lt=cutoff)))
    purged = 0
    while True:
        with transaction.atomic():
            ids = list(due.select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return purged
            Message.objects.filter(ticket_id__in=ids, sender=MessageSender.CUSTOMER).update(body=PURGED_BODY)
            Ticket.objects.filter(pk__in=ids).update(
                customer_name=PURGED_NAME, customer_email="", customer_key="", rating_comment="",
                customer_data_purged_at=now)
            audit_record(AuditAction.PERSONAL_DATA_PURGE, object_type="tickets.ticket",
                         object_id=f"{ids[0]}-{ids[-1]}",
                         after={"tickets": len(ids), "closed_before": cutoff.isoformat()})
            purged += len(ids)


def worker_transcripts_anonymise(*, user_id: int, names: list[str], pseudonym: str) -> int:
    """Replace a deleted worker's names (full name, username) in the message bodies of every ticket
    they wrote in (a canned reply or a greeting names them) with their pseudonym. In the caller's
    transaction. Returns how many messages changed."""
    ticket_ids = Message.objects.filter(author_id=user_id).values("ticket_id")
    changed = 0
    for name in sorted({n for n in names if len(n) >= 2}, key=len, reverse=True):
        changed += Message.objects.filter(ticket_id__in=ticket_ids, body__contains=name).update(
            body=Replace("body", Value(name), Value(pseudonym)))
    return changed


def worker_tickets_export(*, worker: Worker) -> dict[str, Any]:
    """A worker's export section (workers.privacy): the tickets they handled (held, resolved,
    handed on, or wrote in), each with its messages. The customer's name and email are left out:
    they are the customer's data, not the worker's."""
    handled = (Ticket.objects.filter(Q(assigned_worker=worker) | Q(resolved_by=worker) | Q(previous_worker=worker)
                                     | Q(pk__in=Message.objects.filter(author_id=worker.pk).values("ticket_id")))
               .order_by("created_at", "pk").prefetch_related(
                   Prefetch("messages", queryset=Message.objects.order_by("seq"))))
    return {"tickets": [{
        "id": t.pk, "status": t.status, "language": t.language, "topic": t.topic_id,
        "created_at": _iso(t.created_at), "assigned_at": _iso(t.assigned_at), "resolved_at": _iso(t.resolved_at),
        "resolution": t.resolution, "resolution_category": t.resolution_category, "rating": t.rating,
        "assigned_worker": t.assigned_worker_id, "resolved_by": t.resolved_by_id,
        "messages": [{"seq": m.seq, "sender": m.sender, "by_me": m.author_id == worker.pk, "body": m.body,
                      "internal": m.internal, "sent_at": _iso(m.sent_at)} for m in t.messages.all()],
    } for t in handled]}


def worker_tickets_erase(*, worker: Worker, names: list[str], pseudonym: str) -> None:
    """A worker's eraser (workers.privacy): their open tickets go back to the front of the queue,
    and their names in the transcripts they wrote in become the pseudonym."""
    tickets_requeue_for_worker(worker_id=worker.pk, kind="requeued", reason="Worker account deleted.")
    worker_transcripts_anonymise(user_id=worker.pk, names=names, pseudonym=pseudonym)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()

"""Reads of the tickets app with their access rules: querysets already scoped to the caller.

A ticket the caller may not see is "not found", never "forbidden".
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db import connection
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from tickets.errors import TicketNotFound
from tickets.models import CannedResponse, Message, Ticket, TicketEvent, TicketStatus
from workers.models import (
    AgentPresence,
    ClaimStatus,
    Role,
    ShiftClaim,
    ShiftStatus,
    Worker,
    WorkerLanguage,
    WorkerStatus,
)
from workers.presence import present_workers_q

QUEUE_ORDER = ("queue_priority", "queued_at", "id")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ticket_for_token(*, ticket_id: int, token: str | None) -> Ticket | None:
    """The ticket the customer token opens, when it is this one."""
    if not token or len(token) > 200:
        return None
    return Ticket.objects.filter(pk=ticket_id, token_hash=token_hash(token)).first()


def tickets_visible_to(user) -> QuerySet[Ticket]:
    """Ops (and admins): every ticket. Workers: tickets assigned to them now or in the past."""
    tickets = Ticket.objects.all()
    if user is None or not user.is_authenticated:
        return tickets.none()
    if user.is_ops:
        return tickets
    if user.role == Role.WORKER:
        past = TicketEvent.objects.filter(kind="assigned", worker_id=user.pk).values("ticket_id")
        return tickets.filter(Q(assigned_worker_id=user.pk) | Q(pk__in=past))
    return tickets.none()


def ticket_get_for(*, ticket_id: int, user=None, token: str | None = None) -> Ticket:
    """One ticket for a signed-in user or a customer token; TicketNotFound otherwise."""
    ticket = None
    if token:
        ticket = ticket_for_token(ticket_id=ticket_id, token=token)
    if ticket is None and user is not None and user.is_authenticated:
        ticket = tickets_visible_to(user).filter(pk=ticket_id).first()
    if ticket is None:
        raise TicketNotFound()
    return ticket


def ticket_messages(*, ticket_id: int, after: int = 0, include_internal: bool,
                    until: int | None = None) -> QuerySet[Message]:
    messages = Message.objects.filter(ticket_id=ticket_id, seq__gt=after)
    if until is not None:
        messages = messages.filter(seq__lt=until)
    if not include_internal:
        messages = messages.filter(internal=False)
    return messages.order_by("seq")


def queue_position(ticket: Ticket) -> int:
    """1-based place in the one FIFO queue; 0 when the ticket is not queued."""
    if ticket.status != TicketStatus.QUEUED:
        return 0
    ahead = Ticket.objects.filter(status=TicketStatus.QUEUED).filter(
        Q(queue_priority__lt=ticket.queue_priority)
        | Q(queue_priority=ticket.queue_priority, queued_at__lt=ticket.queued_at)
        | Q(queue_priority=ticket.queue_priority, queued_at=ticket.queued_at, id__lt=ticket.id)
    )
    return ahead.count() + 1


def queued_tickets() -> QuerySet[Ticket]:
    return Ticket.objects.filter(status=TicketStatus.QUEUED).order_by(*QUEUE_ORDER)


def on_shift_claims(*, now: dt.datetime | None = None) -> QuerySet[ShiftClaim]:
    """Claims checked into a shift running now, of approved workers."""
    now = now or timezone.now()
    return ShiftClaim.objects.filter(
        status=ClaimStatus.ACTIVE, checked_in_at__isnull=False, checked_out_at__isnull=True,
        starts_at__lte=now, ends_at__gt=now, shift__status=ShiftStatus.PUBLISHED,
        worker__status=WorkerStatus.APPROVED,
    )


def routable_workers(*, now: dt.datetime) -> list[dict]:
    """Everyone routing may assign to right now: on shift and present, with their load and skills.

    Each: `{worker_id, claim_id, cap, load, last_assigned_at, languages: set, skills: set}`.
    """
    claims = list(
        on_shift_claims(now=now)
        .filter(present_workers_q(now=now, prefix="worker__presence__"))
        .order_by("worker_id", "starts_at")
        .values("id", "worker_id", "worker__concurrency_cap", "worker__presence__last_assigned_at")
    )
    by_worker: dict[int, dict] = {}
    for claim in claims:
        by_worker.setdefault(claim["worker_id"], {
            "worker_id": claim["worker_id"], "claim_id": claim["id"], "cap": claim["worker__concurrency_cap"],
            "last_assigned_at": claim["worker__presence__last_assigned_at"], "load": 0,
            "languages": set(), "skills": set(),
        })
    if not by_worker:
        return []
    ids = list(by_worker)
    for row in (Ticket.objects.filter(status=TicketStatus.ASSIGNED, assigned_worker_id__in=ids)
                .values("assigned_worker_id").annotate(n=Count("id"))):
        by_worker[row["assigned_worker_id"]]["load"] = row["n"]
    for worker_id, language in WorkerLanguage.objects.filter(worker_id__in=ids).values_list("worker_id", "language"):
        by_worker[worker_id]["languages"].add(language)
    for worker_id, skill in Worker.skills.through.objects.filter(worker_id__in=ids).values_list(
            "worker_id", "skill_id"):
        by_worker[worker_id]["skills"].add(skill)
    return list(by_worker.values())


def agents_online(*, language: str, topic: str, now: dt.datetime | None = None) -> bool:
    """Whether anyone routable right now speaks the language and knows the topic (the widget's
    "we are offline" notice)."""
    now = now or timezone.now()
    return any(language in w["languages"] and topic in w["skills"] for w in routable_workers(now=now))


def transfer_targets(*, ticket: Ticket, now: dt.datetime | None = None) -> list[dict]:
    """Routable workers other than the holder who could take the ticket now."""
    now = now or timezone.now()
    fitting = [w for w in routable_workers(now=now) if w["worker_id"] != ticket.assigned_worker_id
               and w["load"] < w["cap"] and ticket.language in w["languages"] and ticket.topic_id in w["skills"]]
    names = dict(Worker.objects.filter(pk__in=[w["worker_id"] for w in fitting]).values_list("pk", "full_name"))
    return [{"worker": w["worker_id"], "name": names.get(w["worker_id"], ""), "load": w["load"], "cap": w["cap"]}
            for w in fitting]


def worker_open_tickets(*, worker_id: int) -> QuerySet[Ticket]:
    return Ticket.objects.filter(status=TicketStatus.ASSIGNED, assigned_worker_id=worker_id).order_by(
        "assigned_at", "id")


# What `events.ticket_as_json` reads.
CONSOLE_TICKET_FIELDS = ("id", "status", "language", "topic", "assigned_worker", "created_at", "first_response_at",
                         "resolved_at", "rating", "customer_name", "customer_email", "assigned_at",
                         "resolution_category", "last_seq")


def worker_console_tickets(*, worker_id: int) -> list[Ticket]:
    """`worker_open_tickets` with the fields a console shows, for every console connect: straight
    from a cursor (building the ORM query cost more than running it when a thousand consoles
    reconnect at once)."""
    with connection.cursor() as cursor:
        cursor.execute(_CONSOLE_TICKETS_SQL, [TicketStatus.ASSIGNED, worker_id])
        rows = cursor.fetchall()
    return [Ticket.from_db(connection.alias, _CONSOLE_TICKET_ATTNAMES, row) for row in rows]


# In model order: `from_db` fills the model's fields in that order.
_CONSOLE_TICKET_COLUMNS = [f for f in Ticket._meta.concrete_fields if f.name in CONSOLE_TICKET_FIELDS]
_CONSOLE_TICKET_ATTNAMES = [f.attname for f in _CONSOLE_TICKET_COLUMNS]
_CONSOLE_TICKET_COLUMN_NAMES = ", ".join(f.column for f in _CONSOLE_TICKET_COLUMNS if f.column)
_CONSOLE_TICKETS_SQL = (f"SELECT {_CONSOLE_TICKET_COLUMN_NAMES} FROM {Ticket._meta.db_table} "  # nosec B608 # column and table names from the model; values are parameters
                        "WHERE status = %s AND assigned_worker_id = %s ORDER BY assigned_at, id")


def customer_earlier_tickets(*, ticket: Ticket) -> QuerySet[Ticket]:
    """The same verified customer's other tickets, newest first; none for an unverified customer
    (a typed email proves nothing: anyone may type another person's)."""
    if not ticket.customer_key:
        return Ticket.objects.none()
    return (Ticket.objects.filter(customer_key=ticket.customer_key).exclude(pk=ticket.pk)
            .order_by("-created_at"))


def canned_responses(*, language: str = "") -> QuerySet[CannedResponse]:
    responses = CannedResponse.objects.filter(active=True)
    if language:
        responses = responses.filter(Q(language="") | Q(language=language))
    return responses


LIVE_BOARD_OPEN_TICKETS = 100


def live_board(*, now: dt.datetime | None = None) -> dict:
    """The ops live board: queue per language/topic, workers on shift, first-response SLA breaches,
    and the open tickets (the first 100 queued in queue order and the 100 longest assigned).

    The same snapshot answers `GET /api/v1/tickets/live-board/` and is pushed on `/ws/ops/live/`;
    a fixed number of queries whatever the number of tickets or workers (one per section).
    """
    from django.conf import settings

    now = now or timezone.now()
    queue = [
        {"language": row["language"], "topic": row["topic_id"], "queued": row["n"],
         "longest_wait_seconds": int((now - row["oldest"]).total_seconds()) if row["oldest"] else 0}
        for row in Ticket.objects.filter(status=TicketStatus.QUEUED).values("language", "topic_id")
        .annotate(n=Count("id"), oldest=Min("queued_at")).order_by("language", "topic_id")
    ]
    claims = on_shift_claims(now=now).select_related("worker__user").order_by("worker_id")
    loads = dict(Ticket.objects.filter(status=TicketStatus.ASSIGNED).values_list("assigned_worker_id")
                 .annotate(n=Count("id")).values_list("assigned_worker_id", "n"))
    presences = {p.worker_id: p for p in AgentPresence.objects.filter(worker_id__in=[c.worker_id for c in claims])}
    grace = settings.SHIFTLINE["PRESENCE_GRACE"]
    workers = []
    for claim in claims:
        presence = presences.get(claim.worker_id)
        if presence and presence.connections > 0:
            state = "online"
        elif presence and presence.disconnected_at and presence.disconnected_at >= now - grace:
            state = "grace"
        else:
            state = "offline"
        workers.append({"worker": claim.worker_id, "name": claim.worker.full_name,
                        "username": claim.worker.user.username, "load": loads.get(claim.worker_id, 0),
                        "cap": claim.worker.concurrency_cap, "presence": state,
                        "shift_ends_at": claim.ends_at.isoformat()})
    timeout = settings.SHIFTLINE["FIRST_RESPONSE_TIMEOUT"]
    breaches = [
        {"ticket": pk, "worker": worker_id, "worker_name": worker_name or "", "language": language, "topic": topic,
         "waiting_seconds": int((now - (queued_at or created_at)).total_seconds())}
        for pk, worker_id, worker_name, language, topic, queued_at, created_at in Ticket.objects.filter(
            status__in=[TicketStatus.QUEUED, TicketStatus.ASSIGNED], first_response_at__isnull=True,
            created_at__lt=now - timeout)
        .order_by("created_at").values_list("id", "assigned_worker_id", "assigned_worker__full_name", "language",
                                            "topic_id", "queued_at", "created_at")[:200]
    ]
    # `worker` is the id (API convention); `worker_name` is what the board shows.
    open_fields = ("id", "status", "language", "topic_id", "assigned_worker_id", "assigned_worker__full_name")
    open_tickets = [
        {"ticket": pk, "status": status, "language": language, "topic": topic, "worker": worker_id,
         "worker_name": worker_name or ""}
        for pk, status, language, topic, worker_id, worker_name in [
            *queued_tickets().values_list(*open_fields)[:LIVE_BOARD_OPEN_TICKETS],
            *Ticket.objects.filter(status=TicketStatus.ASSIGNED).order_by("assigned_at", "id")
            .values_list(*open_fields)[:LIVE_BOARD_OPEN_TICKETS],
        ]
    ]
    return {"generated_at": now.isoformat(), "queue": queue, "workers": workers, "sla_breaches": breaches,
            "queue_length": sum(row["queued"] for row in queue), "open_tickets": open_tickets}

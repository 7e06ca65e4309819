"""Every write of the tickets app: tickets, messages, routing. Keyword-only, typed, one transaction each.

Concurrency (see docs/ARCHITECTURE.md):
- a message takes its ticket's row lock, then `last_seq = last_seq + 1 ... RETURNING` (gapless seq;
  a repeated `client_id` is found under the same lock and stored once);
- every change of who holds a ticket that can raise a worker's load (routing, transfer) and every
  requeue runs under the row lock of the singleton `RoutingLock`, and moves tickets with
  conditional updates (`WHERE status = 'queued'`), so no ticket is held twice and nobody goes over cap.
Broadcasts leave on commit; a rolled-back write sends nothing. Every write that changes what the
ops live board shows (the queue, a worker's load or presence, a first response) also marks the
board changed (`events.live_board_changed`), which pushes a coalesced snapshot after commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

import psycopg
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Avg
from django.utils import timezone

from kernel.audit.models import AuditAction
from kernel.audit.services import record as audit_record
from kernel.drf import ScopeLimit
from kernel.errors import RateLimited
from kernel.outbox.services import outbox_record
from kernel.realtime import run_soon
from tickets import events
from tickets.errors import (
    AlreadyRated,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    NotAssigned,
    ReopenWindowClosed,
    TicketClosed,
    TicketErrorCode,
    TicketNotFound,
    WorkerUnavailable,
)
from tickets.identity import customer_identity_errors
from tickets.models import Message, MessageSender, RoutingLock, Ticket, TicketEvent, TicketStatus
from tickets.selectors import QUEUE_ORDER, queue_position, routable_workers, token_hash
from workers.models import Skill, Worker
from workers.presence import (
    presence_connect,
    presence_disconnect,
    presence_mark_assigned,
    presence_reset_stale,
    worker_missed_assignment_record,
    worker_quality_score_update,
)

if TYPE_CHECKING:
    from workers.models import User

logger = logging.getLogger(__name__)

ISO_639_1 = frozenset(
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz "
    "ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik "
    "io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml "
    "mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd "
    "se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi "
    "vo wa wo xh yi yo za zh zu".split()
)
ROUTING_BATCH = 500


# --- Broadcasting ------------------------------------------------------------------------------


def _publish(messages: list[tuple[str, dict]]) -> None:
    """Publish `(group, layer message)` pairs (`events.to_ticket`, `events.to_worker`) on the channel
    layer from sync code, on the server's loop (`run_soon`: without waiting for Redis when this
    process serves sockets). At most once: the database and `after=SEQ` replay are the truth, so a
    failure is logged, not raised."""
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        try:
            for group, message in messages:
                await layer.group_send(group, message)
        except Exception:
            logger.exception("broadcast to %s failed", ", ".join(group for group, _ in messages))

    run_soon(send_all)


def _broadcast_ticket(ticket: Ticket, event: dict, *, customer: bool = True,
                      worker_ids: Iterable[int | None] = ()) -> None:
    messages = [events.to_ticket(ticket.id, event)] if customer else []
    messages += [events.to_worker(w, event) for w in sorted({w for w in worker_ids if w})]
    if messages:
        transaction.on_commit(lambda: _publish(messages))


def _event(ticket: Ticket, kind: str, *, actor=None, worker_id: int | None = None, reason: str = "",
           data: dict | None = None, at: dt.datetime | None = None) -> TicketEvent:
    return TicketEvent.objects.create(ticket=ticket, kind=kind, actor=actor if actor and actor.pk else None,
                                      worker_id=worker_id, reason=reason, data=data or {},
                                      created_at=at or timezone.now())


def _lock_ticket(ticket_id: int) -> Ticket:
    ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
    if ticket is None:
        raise TicketNotFound()
    return ticket


def _take_routing_lock() -> None:
    lock = RoutingLock.objects.select_for_update().filter(pk=1).first()
    if lock is None:  # the row is made by migration 0003; recreate it if a test flush removed it
        RoutingLock.objects.bulk_create([RoutingLock(id=1)], ignore_conflicts=True)
        RoutingLock.objects.select_for_update().get(pk=1)


# --- Tickets -----------------------------------------------------------------------------------


def ticket_create(*, name: str, email: str, language: str, topic: str, message: str,
                  customer_id: str = "", customer_signature: str = "",
                  at: dt.datetime | None = None) -> tuple[Ticket, str]:
    """Open a ticket with its first message (seq 1) and queue it; then run routing.

    `customer_id` with its `customer_signature` (tickets.identity) is the embedding site's word for
    who the customer is: a pair that does not verify is refused (400), one that does is stored as
    the ticket's `customer_key`. Returns the ticket (as routing left it) and the customer token,
    which is never stored (only its SHA-256). `at` (default now) is when it happens: `seed_demo`
    writes its history through this same function with past times.
    """
    language = language.strip().lower()
    fields: dict[str, list[str]] = customer_identity_errors(customer_id, customer_signature)
    if language not in ISO_639_1:
        fields["language"] = ["Not an ISO 639-1 language code."]
    if not Skill.objects.filter(code=topic, active=True).exists():
        fields["topic"] = ["Not a topic of the catalogue."]
    body_errors = _body_errors(message)
    if body_errors:
        fields["message"] = body_errors
    if fields:
        raise InvalidInput(f"Some fields are not valid: {', '.join(sorted(fields))}.", fields=fields)
    token = secrets.token_urlsafe(32)
    now = at or timezone.now()
    with transaction.atomic():
        ticket = Ticket.objects.create(
            token_hash=token_hash(token), customer_name=name, customer_email=email, customer_key=customer_id,
            language=language,
            topic_id=topic, status=TicketStatus.QUEUED, queued_at=now, last_seq=1, customer_last_seen_at=now,
            created_at=now,
        )
        Message.objects.create(ticket=ticket, seq=1, sender=MessageSender.CUSTOMER, body=message, sent_at=now)
        _event(ticket, "created", data={"language": language, "topic": topic}, at=now)
        events.live_board_changed()
    ticket_route(at=at)
    ticket.refresh_from_db()
    return ticket, token


def _body_errors(body: object) -> list[str]:
    """The one rule for a chat message's text: plain text, not blank, at most MESSAGE_MAX_LENGTH characters."""
    limit = settings.SHIFTLINE["MESSAGE_MAX_LENGTH"]
    if body is None:
        return ["This field is required."]
    if not isinstance(body, str) or not body.strip():
        return ["A message needs some text."]
    if len(body) > limit:
        return [f"At most {limit} characters."]
    if "\x00" in body:
        return ["Null characters are not allowed."]
    return []


def _message_fields_errors(*, body: object, client_id: object, internal: object, user: User | None) -> dict:
    fields: dict[str, list[str]] = {}
    body_errors = _body_errors(body)
    if body_errors:
        fields["body"] = body_errors
    if client_id is None:
        fields["client_id"] = ["This field is required."]
    elif not isinstance(client_id, str) or not 1 <= len(client_id) <= 100 or "\x00" in client_id:
        fields["client_id"] = ["1 to 100 characters, no null characters."]
    if not isinstance(internal, bool):
        fields["internal"] = ["Must be true or false."]
    elif internal and user is None:
        fields["internal"] = ["Customers cannot write internal notes."]
    return fields


_MESSAGE_LIMIT = ScopeLimit("ticket_message")


def message_rate_check(*, ticket_id: int, user: User | None) -> None:
    """The chat message limit (`RATE_TICKET_MESSAGE`, scope `ticket_message`): per ticket for its
    customer, per user for workers and staff, counted in the shared Redis window, so every socket
    and the REST endpoint draw on one allowance. Raises `RateLimited` (429) when it is spent."""
    wait = _MESSAGE_LIMIT.wait_for(f"user-{user.pk}" if user is not None else f"ticket-{ticket_id}")
    if wait:
        raise RateLimited(wait=wait)


def message_post(*, ticket_id: int, body: object, client_id: object, user: User | None = None,
                 internal: object = False, at: dt.datetime | None = None) -> tuple[Message, bool]:
    """Validate and store a chat message, the customer's when `user` is None, and broadcast it after
    commit: the one path of the websocket consumers and `POST /api/v1/tickets/{id}/messages/`.

    Rules: `body` and `client_id` as `_message_fields_errors` states them (`InvalidInput` naming the
    fields); internal notes from staff only; a customer writes until the ticket is resolved or
    abandoned (`TicketClosed`), a worker while it is assigned to them (`NotAssigned`), ops always.
    A `client_id` already stored on this ticket returns that message (`created` False) and stores
    nothing, so it is safe to repeat. One statement (`_MESSAGE_STORE_SQL`) takes the ticket's row
    lock and the next seq.
    """
    fields = _message_fields_errors(body=body, client_id=client_id, internal=internal, user=user)
    if fields:
        raise InvalidInput(f"Some fields are not valid: {', '.join(sorted(fields))}.", fields=fields)
    assert isinstance(body, str) and isinstance(client_id, str) and isinstance(internal, bool)
    if at is None:  # a live sender's allowance; history written with `at=` (seed_demo) sends nothing live
        message_rate_check(ticket_id=ticket_id, user=user)
    stored = _message_store(ticket_id=ticket_id, body=body, client_id=client_id, user=user, internal=internal,
                            at=at)
    if stored is not None:
        return stored, True
    return _message_not_stored(ticket_id=ticket_id, client_id=client_id, user=user)


def _message_not_stored(*, ticket_id: int, client_id: str, user: User | None) -> tuple[Message, bool]:
    """Nothing was stored: a repeated client_id (its message, not created), or a refusal (raised).
    Rare, so not in the hot path."""
    existing = Message.objects.filter(ticket_id=ticket_id, client_id=client_id).first()
    if existing is not None:
        return existing, False
    if not Ticket.objects.filter(pk=ticket_id).exists():
        raise TicketNotFound()
    if user is None:
        raise TicketClosed()
    raise NotAssigned()


# One statement, so one round trip and its own transaction (autocommit): the UPDATE takes the
# ticket's row lock and the next seq only when the caller may write and the client_id is new; the
# INSERT stores the message with it. A unique violation (the same client_id racing) fails the whole
# statement, increment included, so seq stays gapless and strictly increasing.
_MESSAGE_STORE_SQL = f"""
WITH t AS (
    UPDATE {Ticket._meta.db_table}
       SET last_seq = last_seq + 1,
           customer_last_seen_at = CASE WHEN %(customer)s THEN %(now)s ELSE customer_last_seen_at END,
           first_response_at = CASE WHEN %(first_response)s AND first_response_at IS NULL THEN %(now)s
                                    ELSE first_response_at END
     WHERE id = %(ticket)s
       AND (%(any_status)s OR status NOT IN ('resolved', 'abandoned'))
       AND (%(any_holder)s OR (status = 'assigned' AND assigned_worker_id = %(author)s))
       AND NOT EXISTS (SELECT 1 FROM {Message._meta.db_table}
                        WHERE ticket_id = %(ticket)s AND client_id = %(client_id)s AND client_id <> '')
 RETURNING last_seq, status, assigned_worker_id,
           (%(first_response)s AND first_response_at = %(now)s) AS first_response_now
), m AS (
    INSERT INTO {Message._meta.db_table} (ticket_id, seq, sender, author_id, body, client_id, internal, sent_at)
    SELECT %(ticket)s, t.last_seq, %(sender)s, %(author)s, %(body)s, %(client_id)s, %(internal)s, %(now)s FROM t
    RETURNING id, seq
)
SELECT m.id, m.seq, t.status, t.assigned_worker_id, t.first_response_now FROM m, t
"""  # nosec B608 # the table names from the models; every value is a parameter


def _message_store(*, ticket_id: int, body: str, client_id: str, user: User | None, internal: bool,
                   at: dt.datetime | None = None) -> Message | None:
    """Store the message and broadcast it after commit; None when nothing was stored (see message_post)."""
    sender = MessageSender.CUSTOMER if user is None else MessageSender.WORKER
    now = at or timezone.now()
    params = {
        "ticket": ticket_id, "now": now, "customer": user is None,
        "first_response": user is not None and not internal,
        "any_status": user is not None, "any_holder": user is None or user.is_ops,
        "author": user.pk if user is not None else None, "sender": sender, "body": body, "client_id": client_id,
        "internal": internal,
    }

    def run() -> tuple | None:
        # Every chat message runs this statement. A server-side-binding cursor sends the body as a
        # parameter, and the statement is prepared once per pooled connection: Django's
        # client-side binding quoted every parameter into the SQL text, and PostgreSQL parsed and
        # planned it anew, each time (measured in bench/chat.py).
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(_MESSAGE_STORE_SQL, params, prepare=True)  # Django turns auto-prepare off
            return cursor.fetchone()

    try:
        if connection.in_atomic_block:
            with transaction.atomic():  # a savepoint, so a unique violation leaves the caller's transaction usable
                row = run()
        else:
            row = run()  # autocommit: the statement is its own transaction, one round trip
    except (IntegrityError, psycopg.IntegrityError):
        return None
    if row is None:
        return None
    message_id, seq, status, assigned_worker_id, first_response_now = row
    message = Message(id=message_id, ticket_id=ticket_id, seq=seq, sender=sender, author=user, body=body,
                      client_id=client_id, internal=internal, sent_at=now)
    event = events.message_event(message)
    holder = assigned_worker_id if status == TicketStatus.ASSIGNED and assigned_worker_id else None
    # One publish: the holder's consoles listen on the ticket's group. Internal notes never go there.
    if not internal:
        transaction.on_commit(lambda: _publish([events.to_ticket(ticket_id, event, holder=holder)]))
    elif holder is not None:
        transaction.on_commit(lambda: _publish([events.to_worker(holder, event)]))
    if first_response_now:  # the ticket leaves the board's first-response SLA breaches
        events.live_board_changed()
    return message


_CUSTOMER_OPEN_SQL = (f"UPDATE {Ticket._meta.db_table} SET customer_last_seen_at = %s "  # nosec B608 # the table name from the model; values are parameters
                      "WHERE id = %s AND token_hash = %s RETURNING last_seq")
_CUSTOMER_SEEN_SQL = f"UPDATE {Ticket._meta.db_table} SET customer_last_seen_at = %s WHERE id = %s"  # nosec B608 # the table name from the model; values are parameters
_ANY_QUEUED_SQL = f"SELECT 1 FROM {Ticket._meta.db_table} WHERE status = 'queued' LIMIT 1"  # nosec B608 # the table name from the model; no input


def ticket_resolve(*, ticket_id: int, user, resolution: str, category: str = "",
                   at: dt.datetime | None = None) -> Ticket:
    """`assigned` → `resolved` by the assigned worker or ops; records `ticket.resolved` (case pay).
    `at` (default now): when, for history written through this path."""
    now = at or timezone.now()
    with transaction.atomic():
        ticket = _lock_ticket(ticket_id)
        if ticket.status != TicketStatus.ASSIGNED:
            raise InvalidTransition(f"A {ticket.status} ticket cannot be resolved.")
        if not user.is_ops and ticket.assigned_worker_id != user.pk:
            raise NotAssigned()
        ticket.status = TicketStatus.RESOLVED
        ticket.resolved_at = now
        ticket.resolution = resolution
        ticket.resolution_category = category
        ticket.resolution_count += 1
        ticket.resolved_by_id = ticket.assigned_worker_id
        ticket.save(update_fields=["status", "resolved_at", "resolution", "resolution_category",
                                   "resolution_count", "resolved_by"])
        _event(ticket, "resolved", actor=user, worker_id=ticket.assigned_worker_id, reason=resolution,
               data={"category": category, "resolution_n": ticket.resolution_count}, at=now)
        claim = ticket.assigned_claim
        outbox_record(topic="ticket.resolved", payload={
            "ticket_id": ticket.id,
            "worker_id": ticket.assigned_worker_id,
            "claim_id": ticket.assigned_claim_id,
            "rate_multiplier": str(claim.rate_multiplier) if claim else "1.00",
            "resolution_n": ticket.resolution_count,
            "resolved_at": now.isoformat(),
        })
        _broadcast_ticket(ticket, events.ticket_resolved_event(ticket.id), worker_ids=[ticket.assigned_worker_id])
        events.live_board_changed()
    ticket_route(at=at)
    return ticket


def ticket_rate(*, ticket_id: int, score: int, comment: str = "", at: dt.datetime | None = None) -> Ticket:
    """The customer's 1..5 rating, once per resolution; records `ticket.rated` (CSAT bonus on 5).
    `at` (default now): when, for history written through this path."""
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise InvalidInput("The score is 1 to 5.", fields={"score": ["Must be an integer from 1 to 5."]})
    with transaction.atomic():
        ticket = _lock_ticket(ticket_id)
        if ticket.rating is not None:
            raise AlreadyRated()
        if ticket.status != TicketStatus.RESOLVED:
            raise InvalidTransition("Only a resolved ticket can be rated.")
        ticket.rating = score
        ticket.rating_comment = comment
        ticket.rated_at = at or timezone.now()
        ticket.save(update_fields=["rating", "rating_comment", "rated_at"])
        _event(ticket, "rated", worker_id=ticket.resolved_by_id, data={"score": score, "comment": comment,
                                                                      "resolution_n": ticket.resolution_count},
               at=ticket.rated_at)
        outbox_record(topic="ticket.rated", payload={
            "ticket_id": ticket.id, "worker_id": ticket.resolved_by_id, "score": score,
            "resolution_n": ticket.resolution_count, "rated_at": ticket.rated_at.isoformat(),
        })
        if ticket.resolved_by_id:
            average = Ticket.objects.filter(resolved_by_id=ticket.resolved_by_id, rating__isnull=False).aggregate(
                avg=Avg("rating"))["avg"]
            worker_quality_score_update(worker_id=ticket.resolved_by_id,
                                        average_rating=float(average) if average is not None else None)
    return ticket


def ticket_reopen(*, ticket_id: int, at: dt.datetime | None = None) -> Ticket:
    """`resolved` → `queued` within the reopen window, preferring the worker who resolved it.

    Records `ticket.reopened` (voids case pay still on hold), then runs routing. `at` (default
    now): when, for history written through this path.
    """
    now = at or timezone.now()
    with transaction.atomic():
        ticket = _lock_ticket(ticket_id)
        if ticket.status != TicketStatus.RESOLVED:
            raise InvalidTransition(f"A {ticket.status} ticket cannot be reopened.")
        if ticket.resolved_at is None or now - ticket.resolved_at > settings.SHIFTLINE["REOPEN_WINDOW"]:
            raise ReopenWindowClosed()
        worker_id = ticket.resolved_by_id
        ticket.status = TicketStatus.QUEUED
        ticket.queued_at = now
        ticket.queue_priority = 0
        ticket.previous_worker_id = ticket.assigned_worker_id
        ticket.prefer_worker_id = worker_id
        ticket.avoid_worker_id = None
        ticket.assigned_worker_id = None
        ticket.assigned_claim_id = None
        ticket.assigned_at = None
        ticket.resolved_at = None
        ticket.rating = None
        ticket.rating_comment = ""
        ticket.rated_at = None
        ticket.customer_last_seen_at = now
        ticket.save()
        _event(ticket, "reopened", worker_id=worker_id, data={"resolution_n": ticket.resolution_count}, at=now)
        events.live_board_changed()
        outbox_record(topic="ticket.reopened", payload={
            "ticket_id": ticket.id, "worker_id": worker_id, "resolution_n": ticket.resolution_count,
            "reopened_at": now.isoformat(),
        })
    ticket_route(notify_positions=True, at=at)
    ticket.refresh_from_db()
    return ticket


def ticket_abandon(*, ticket_id: int, reason: str = "") -> bool:
    """A queued ticket whose customer left: `queued` → `abandoned`. Returns False when not queued."""
    now = timezone.now()
    with transaction.atomic():
        ticket = _lock_ticket(ticket_id)
        if ticket.status != TicketStatus.QUEUED:
            return False
        ticket.status = TicketStatus.ABANDONED
        ticket.abandoned_at = now
        ticket.save(update_fields=["status", "abandoned_at"])
        _event(ticket, "abandoned", reason=reason)
        events.live_board_changed()
    return True


def ticket_transfer(*, ticket_id: int, user, to_worker_id: int | None, reason: str) -> Ticket:
    """Hand an assigned ticket to another routable worker, or back to the front of the queue (None).

    Under the routing lock, so the receiving worker's cap holds.
    """
    now = timezone.now()
    with transaction.atomic():
        _take_routing_lock()
        ticket = _lock_ticket(ticket_id)
        if ticket.status != TicketStatus.ASSIGNED:
            raise InvalidTransition(f"A {ticket.status} ticket cannot be transferred.")
        if not user.is_ops and ticket.assigned_worker_id != user.pk:
            raise NotAssigned()
        from_worker_id = ticket.assigned_worker_id
        before = {"status": ticket.status, "assigned_worker": from_worker_id}
        if to_worker_id is None:
            _requeue(ticket, kind="transferred", actor=user, reason=reason, front=True, avoid=True)
        else:
            if to_worker_id == from_worker_id:
                raise InvalidInput("The ticket is already with that worker.",
                                   fields={"to_worker": ["Already assigned to this worker."]})
            if not Worker.objects.filter(pk=to_worker_id).exists():
                raise InvalidInput("No such worker.", fields={"to_worker": ["No such worker."]})
            target = next((w for w in routable_workers(now=now) if w["worker_id"] == to_worker_id), None)
            if target is None or not _fits(target, ticket):
                raise WorkerUnavailable()
            ticket.previous_worker_id = from_worker_id
            ticket.assigned_worker_id = to_worker_id
            ticket.assigned_claim_id = target["claim_id"]
            ticket.assigned_at = now
            ticket.prefer_worker_id = None
            ticket.avoid_worker_id = None
            ticket.save(update_fields=["previous_worker", "assigned_worker", "assigned_claim", "assigned_at",
                                       "prefer_worker", "avoid_worker"])
            _event(ticket, "transferred", actor=user, worker_id=to_worker_id, reason=reason,
                   data={"from_worker": from_worker_id})
            _event(ticket, "assigned", actor=user, worker_id=to_worker_id, data={"via": "transfer"})
            presence_mark_assigned(worker_id=to_worker_id, at=now)
            _broadcast_ticket(ticket, events.ticket_transferred_event(ticket.id), worker_ids=[from_worker_id])
            _broadcast_ticket(ticket, events.ticket_assigned_event(events.ticket_as_json(ticket)),
                              customer=False, worker_ids=[to_worker_id])
            events.live_board_changed()
        audit_record(AuditAction.TICKET_TRANSFER, actor=user, target=ticket, before=before,
                     after={"status": ticket.status, "assigned_worker": ticket.assigned_worker_id})
    ticket_route(notify_positions=True)
    ticket.refresh_from_db()
    return ticket


def _requeue(ticket: Ticket, *, kind: str, reason: str, front: bool, actor=None, avoid: bool = False) -> None:
    """Put an assigned ticket (row already locked or conditionally updated) back in the queue."""
    from_worker_id = ticket.assigned_worker_id
    ticket.status = TicketStatus.QUEUED
    ticket.previous_worker_id = from_worker_id
    ticket.assigned_worker_id = None
    ticket.assigned_claim_id = None
    ticket.assigned_at = None
    ticket.queue_priority = -1 if front else 0
    ticket.queued_at = ticket.queued_at or timezone.now()
    ticket.avoid_worker_id = from_worker_id if avoid else None
    ticket.prefer_worker_id = None
    ticket.save(update_fields=["status", "previous_worker", "assigned_worker", "assigned_claim", "assigned_at",
                               "queue_priority", "queued_at", "avoid_worker", "prefer_worker"])
    _event(ticket, kind, actor=actor, worker_id=from_worker_id, reason=reason, data={"requeued": True})
    _broadcast_ticket(ticket, events.ticket_transferred_event(ticket.id), worker_ids=[from_worker_id])
    events.live_board_changed()


def tickets_requeue_for_worker(*, worker_id: int, kind: str, reason: str) -> list[int]:
    """Put every open ticket of the worker back at the front of the queue, then route them on.

    Used on check-out or shift end (hand-over), suspension and presence loss. Safe to repeat.
    """
    with transaction.atomic():
        _take_routing_lock()
        tickets = list(Ticket.objects.select_for_update().filter(
            status=TicketStatus.ASSIGNED, assigned_worker_id=worker_id).order_by("pk"))
        for ticket in tickets:
            _requeue(ticket, kind=kind, reason=reason, front=True)
    if tickets:
        ticket_route(notify_positions=True)
    return [t.pk for t in tickets]


def ticket_requeue_unanswered(*, ticket_id: int, timeout: dt.timedelta) -> bool:
    """An assigned ticket with no worker reply within `timeout` of assignment goes back to the front
    of the queue (avoiding that worker), and counts as a missed assignment. Safe to repeat."""
    now = timezone.now()
    with transaction.atomic():
        _take_routing_lock()
        ticket = _lock_ticket(ticket_id)
        worker_id = ticket.assigned_worker_id
        if (ticket.status != TicketStatus.ASSIGNED or worker_id is None or ticket.assigned_at is None
                or ticket.assigned_at > now - timeout):
            return False
        if Message.objects.filter(ticket_id=ticket.id, sender=MessageSender.WORKER, internal=False,
                                  sent_at__gte=ticket.assigned_at).exists():
            return False
        waited = int((now - ticket.assigned_at).total_seconds())
        _requeue(ticket, kind="missed_assignment", reason="No first response in time.", front=True, avoid=True)
        worker_missed_assignment_record(worker_id=worker_id, ticket_id=ticket.id, waited_seconds=waited)
    ticket_route(notify_positions=True)
    return True


# --- Routing -----------------------------------------------------------------------------------


def _fits(worker: dict, ticket: Ticket) -> bool:
    return (worker["load"] < worker["cap"] and ticket.language in worker["languages"]
            and ticket.topic_id in worker["skills"])


def _choose(candidates: list[dict], ticket: Ticket) -> dict | None:
    fitting = [w for w in candidates if _fits(w, ticket)]
    if not fitting:
        return None
    if ticket.prefer_worker_id:
        preferred = next((w for w in fitting if w["worker_id"] == ticket.prefer_worker_id), None)
        if preferred:
            return preferred
    if ticket.avoid_worker_id and len(fitting) > 1:
        fitting = [w for w in fitting if w["worker_id"] != ticket.avoid_worker_id]
    never = dt.datetime.min.replace(tzinfo=dt.UTC)
    return min(fitting, key=lambda w: (w["load"], w["last_assigned_at"] or never, w["worker_id"]))


def _any_queued() -> bool:
    # A fixed statement: every console connect asks this, and the ORM's query building cost more
    # than the query.
    with connection.cursor() as cursor:
        cursor.execute(_ANY_QUEUED_SQL)
        return cursor.fetchone() is not None


def ticket_route(*, notify_positions: bool = True, at: dt.datetime | None = None) -> list[int]:
    """One routing pass: assign queued tickets, in FIFO order, to the best routable worker.

    Holds the `RoutingLock` row for the pass, so passes never overlap, whatever the process; each
    assignment is a conditional update from `queued`. Pushes queue positions to waiting customers.
    Safe to run any time and repeatedly; returns the ids assigned. `at` (default now) is the
    moment routing looks at (who is on shift then), for history written through this path.
    """
    if not _any_queued():
        return []
    assigned: list[int] = []
    with transaction.atomic():
        _take_routing_lock()
        now = at or timezone.now()
        queued = list(Ticket.objects.filter(status=TicketStatus.QUEUED).order_by(*QUEUE_ORDER)[:ROUTING_BATCH])
        workers = routable_workers(now=now) if queued else []
        waiting: list[Ticket] = []
        for ticket in queued:
            worker = _choose(workers, ticket) if workers else None
            if worker is None:
                waiting.append(ticket)
                continue
            updated = Ticket.objects.filter(pk=ticket.pk, status=TicketStatus.QUEUED).update(
                status=TicketStatus.ASSIGNED, assigned_worker_id=worker["worker_id"],
                assigned_claim_id=worker["claim_id"], assigned_at=now, prefer_worker=None, avoid_worker=None,
            )
            if not updated:
                continue
            ticket.status = TicketStatus.ASSIGNED
            ticket.assigned_worker_id = worker["worker_id"]
            ticket.assigned_claim_id = worker["claim_id"]
            ticket.assigned_at = now
            worker["load"] += 1
            worker["last_assigned_at"] = now
            presence_mark_assigned(worker_id=worker["worker_id"], at=now)
            _event(ticket, "assigned", worker_id=worker["worker_id"], data={"claim_id": worker["claim_id"]}, at=now)
            _broadcast_ticket(ticket, events.ticket_assigned_event(events.ticket_as_json(ticket)),
                              worker_ids=[worker["worker_id"]])
            assigned.append(ticket.pk)
        if assigned:
            events.live_board_changed()
        if waiting and (assigned or notify_positions):
            positions = [events.to_ticket(ticket.pk, events.queue_position_event(ticket.pk, position))
                         for position, ticket in enumerate(waiting, start=1)]
            transaction.on_commit(lambda: _publish(positions))
    return assigned


# --- Agent presence, as the live board sees it --------------------------------------------------


# Each is a single statement (in autocommit: no BEGIN/COMMIT round trips around it); the board is
# told once it has committed.


def agent_presence_connect(*, worker_id: int, at: dt.datetime | None = None) -> bool:
    """An agent socket opened (`workers.presence.presence_connect`): False when the worker is not
    approved (nothing counted); otherwise the board shows the worker online."""
    if not presence_connect(worker_id=worker_id, at=at):
        return False
    events.live_board_changed()
    return True


def agent_presence_disconnect(*, worker_id: int, at: dt.datetime | None = None) -> None:
    """An agent socket closed; the board shows the grace period when it was the worker's last."""
    presence_disconnect(worker_id=worker_id, at=at)
    events.live_board_changed()


def agent_presence_reset_stale() -> int:
    """Sockets of a dead process count as closed (`presence_reset_stale`); the board follows."""
    with transaction.atomic():
        reset = presence_reset_stale()
        if reset:
            events.live_board_changed()
    return reset


def ticket_queue_position(*, ticket: Ticket) -> int:
    return queue_position(ticket)


def ticket_customer_open(*, ticket_id: int, token: str | None) -> int | None:
    """A customer socket opened with `token`: when the token opens this ticket, mark the customer
    seen and return the ticket's last message seq (one statement); otherwise None."""
    if not token or len(token) > 200:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_CUSTOMER_OPEN_SQL, [timezone.now(), ticket_id, token_hash(token)])
        row = cursor.fetchone()
    return None if row is None else row[0]


def ticket_customer_seen(*, ticket_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_CUSTOMER_SEEN_SQL, [timezone.now(), ticket_id])


def ticket_access_check_staff(*, ticket: Ticket, user) -> None:
    """Resolve and transfer: the assigned worker or ops (others who may see it get 403)."""
    if not (user.is_ops or ticket.assigned_worker_id == user.pk):
        raise NotAllowed("Only the assigned worker or ops can do this.", code=TicketErrorCode.NOT_ASSIGNED)

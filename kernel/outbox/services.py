"""Recording and relaying domain events between apps (see STYLE.md, "Between apps").

A consumer is a handler listed for a topic in `settings.OUTBOX_HANDLERS`; its dotted path is its
name. A plain handler takes `event_id` and `payload`; one marked `@batch_handler` takes
`events=[(event_id, payload), ...]`, and is fed one event by the relay or up to a thousand at a
time by `outbox_consume_batch`. Either way a consumer handles an event exactly once: it runs in
one transaction with the record of its consumption, holding the event's row lock (the relay
waits for it, the batch skips rows locked by others). The record is a `ConsumedEvent` row, or,
for the event's last consumer, `delivered_at` itself.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from kernel.dispatch import task_send_on_commit
from kernel.outbox.handlers import EventNotReady
from kernel.outbox.models import ConsumedEvent, OutboxEvent

logger = logging.getLogger(__name__)


class Delivery(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # not ready for it yet, or a lock conflict: the relay retries within a second
    FAILED = "failed"  # left to the `outbox.redeliver` sweep


@dataclass(frozen=True)
class Consumer:
    name: str
    handler: Callable[..., Any]

    @property
    def batch(self) -> bool:
        return getattr(self.handler, "outbox_batch", False)

    def handle(self, events: list[tuple[uuid.UUID, Any]]) -> None:
        if self.batch:
            self.handler(events=events)
        else:
            for event_id, payload in events:
                self.handler(event_id=event_id, payload=payload)


def outbox_record(*, topic: str, payload: dict) -> OutboxEvent:
    """Record an event inside the caller's transaction; relay it once that transaction commits
    (if the broker is down then, `outbox.redeliver` delivers it within a minute of its return)."""
    event = OutboxEvent.objects.create(topic=topic, payload=payload)
    from kernel.outbox.tasks import outbox_relay

    task_send_on_commit(outbox_relay, str(event.id))
    return event


def outbox_consumers(topic: str) -> list[Consumer]:
    return [Consumer(path, import_string(path)) for path in settings.OUTBOX_HANDLERS.get(topic, [])]


def _consumed_by(event_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    consumed: dict[uuid.UUID, set[str]] = defaultdict(set)
    for event_id, name in ConsumedEvent.objects.filter(event_id__in=list(event_ids)).values_list("event", "consumer"):
        consumed[event_id].add(name)
    return consumed


def _record_consumed(event_ids: list[uuid.UUID], consumer: Consumer, consumers: list[Consumer],
                     consumed: dict[uuid.UUID, set[str]]) -> None:
    """In the consumer's transaction: the last consumer of an event marks it delivered, any
    other leaves a `ConsumedEvent` row."""
    others = {c.name for c in consumers} - {consumer.name}
    last = [pk for pk in event_ids if others <= consumed.get(pk, set())]
    if last:
        OutboxEvent.objects.filter(pk__in=last).update(delivered_at=timezone.now())
    if len(last) < len(event_ids):
        ConsumedEvent.objects.bulk_create([ConsumedEvent(event_id=pk, consumer=consumer.name)
                                           for pk in event_ids if pk not in last])


def outbox_deliver(*, event_id: uuid.UUID | str) -> Delivery:
    """Run every consumer of the event that has not consumed it yet, each in its own transaction
    holding the event's row lock. Safe to repeat and to run beside `outbox_consume_batch`.

    A failing consumer does not stop the others; its error is recorded on the event."""
    event = OutboxEvent.objects.filter(pk=event_id).only("topic", "delivered_at").first()
    if event is None or event.delivered_at is not None:
        return Delivery.DELIVERED
    consumers = outbox_consumers(event.topic)
    if not consumers:
        OutboxEvent.objects.filter(pk=event.pk, delivered_at__isnull=True).update(delivered_at=timezone.now())
        return Delivery.DELIVERED
    outcomes: set[Delivery] = set()
    errors: list[str] = []
    for consumer in consumers:
        try:
            with transaction.atomic():
                locked = (OutboxEvent.objects.select_for_update().filter(pk=event.pk, delivered_at__isnull=True)
                          .values_list("pk", "payload").first())
                if locked is None:
                    return Delivery.DELIVERED
                consumed = _consumed_by([event.pk])
                if consumer.name in consumed[event.pk]:
                    continue
                consumer.handle([locked])
                _record_consumed([event.pk], consumer, consumers, consumed)
        except (EventNotReady, OperationalError) as exc:  # an earlier event on its way, a deadlock
            outcomes.add(Delivery.RETRY)
            errors.append(f"{consumer.name}: retry: {exc}")
            logger.info("outbox handler %s will retry %s: %s", consumer.name, event.pk, exc)
        except Exception as exc:  # a failing handler must not stop the others; it is retried
            outcomes.add(Delivery.FAILED)
            errors.append(f"{consumer.name}: {exc}")
            logger.exception("outbox handler %s failed on %s", consumer.name, event.pk)
    if not outcomes:
        return Delivery.DELIVERED
    OutboxEvent.objects.filter(pk=event.pk).update(attempts=F("attempts") + 1, last_error="\n".join(errors)[:2000])
    return Delivery.RETRY if Delivery.RETRY in outcomes else Delivery.FAILED


# One statement: lock the oldest undelivered events nobody else holds and mark them delivered.
_CLAIM_AND_DELIVER = (
    "UPDATE outbox_outboxevent SET delivered_at = %s WHERE id IN ("
    " SELECT id FROM outbox_outboxevent WHERE topic = %s AND delivered_at IS NULL AND attempts = 0"
    " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id, payload"
)


def outbox_consume_batch(*, topic: str, consumer: str, limit: int = 1000) -> int:
    """Hand the batch consumer `consumer` up to `limit` of the oldest events of `topic` it has not
    consumed, in one transaction that also records their consumption.

    Events are claimed with `FOR UPDATE SKIP LOCKED`, so concurrent batches (and relays, which
    lock the one event they deliver) never hand an event to the same consumer twice. Events a
    delivery already failed on are left to the relay and the sweep. If the handler fails, the
    batch rolls back and its events are delivered one by one, so one bad event is recorded and
    set aside rather than blocking the rest. Returns how many events were claimed."""
    consumers = outbox_consumers(topic)
    me = next(c for c in consumers if c.name == consumer)
    if not me.batch:
        raise ValueError(f"{consumer} is not a batch handler of {topic}")
    rows: list[tuple[uuid.UUID, Any]] = []
    try:
        with transaction.atomic():
            if len(consumers) == 1:  # its only consumer: taking the events is delivering them
                with connection.cursor() as cursor:
                    cursor.execute(_CLAIM_AND_DELIVER, [timezone.now(), topic, limit])
                    rows = [(pk, json.loads(payload)) for pk, payload in cursor.fetchall()]
                me.handle(rows)
            else:
                rows = list(OutboxEvent.objects.filter(topic=topic, delivered_at__isnull=True, attempts=0)
                            .exclude(consumptions__consumer=consumer).select_for_update(skip_locked=True)
                            .order_by("created_at").values_list("pk", "payload")[:limit])
                # Re-read after the locks: a consumption committed since the statement's snapshot.
                consumed = _consumed_by(pk for pk, _ in rows)
                events = [(pk, payload) for pk, payload in rows if consumer not in consumed[pk]]
                if events:
                    me.handle(events)
                    _record_consumed([pk for pk, _ in events], me, consumers, consumed)
    except Exception:
        logger.exception("outbox batch %s failed on %d events; delivering them one by one", consumer, len(rows))
        for pk, _ in rows:
            outbox_deliver(event_id=pk)
    return len(rows)


def outbox_drain(*, batch: int = 1000, max_seconds: float = 50) -> int:
    """Feed every batch consumer its backlog, `batch` events a transaction, until it is empty or
    `max_seconds` have passed. Safe to run several at once (they split the work)."""
    deadline = time.monotonic() + max_seconds
    total = 0
    for topic in settings.OUTBOX_HANDLERS:
        for consumer in outbox_consumers(topic):
            while consumer.batch and time.monotonic() < deadline:
                taken = outbox_consume_batch(topic=topic, consumer=consumer.name, limit=batch)
                total += taken
                if taken < batch:
                    break
    return total

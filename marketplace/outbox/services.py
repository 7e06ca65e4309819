"""Recording and relaying domain events between apps (see STYLE.md, "Between apps")."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from marketplace.outbox.models import ConsumedEvent, OutboxEvent

logger = logging.getLogger(__name__)


def outbox_record(*, topic: str, payload: dict) -> OutboxEvent:
    """Record an event inside the caller's transaction; relay it once that transaction commits."""
    event = OutboxEvent.objects.create(topic=topic, payload=payload)
    from marketplace.outbox.tasks import outbox_relay

    transaction.on_commit(lambda: outbox_relay.delay(str(event.id)))
    return event


def _handlers_for(topic: str) -> list[tuple[str, Callable]]:
    paths = getattr(settings, "OUTBOX_HANDLERS", {}).get(topic, [])
    return [(path, import_string(path)) for path in paths]


def outbox_deliver(*, event_id: uuid.UUID | str) -> bool:
    """Run every handler of the event that has not yet consumed it. Safe to repeat.

    Each handler runs in its own transaction together with its `ConsumedEvent` row, so a handler
    either fully happened once or not at all. Returns True when every handler has consumed it.
    """
    event = OutboxEvent.objects.filter(pk=event_id).first()
    if event is None or event.delivered_at is not None:
        return True
    all_done = True
    for consumer, handler in _handlers_for(event.topic):
        try:
            with transaction.atomic():
                ConsumedEvent.objects.create(event=event, consumer=consumer)
                handler(event_id=event.id, payload=event.payload)
        except IntegrityError:
            if not ConsumedEvent.objects.filter(event=event, consumer=consumer).exists():
                all_done = False
                logger.exception("outbox handler %s failed on %s", consumer, event.id)
        except Exception as exc:  # a failing handler must not stop the others; it is retried
            all_done = False
            logger.exception("outbox handler %s failed on %s", consumer, event.id)
            OutboxEvent.objects.filter(pk=event.pk).update(last_error=f"{consumer}: {exc}"[:2000])
    if all_done:
        OutboxEvent.objects.filter(pk=event.pk, delivered_at__isnull=True).update(delivered_at=timezone.now())
    else:
        OutboxEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    return all_done

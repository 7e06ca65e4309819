from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from kernel.outbox.models import OutboxEvent
from kernel.outbox.services import Delivery, outbox_deliver, outbox_drain


@shared_task(name="outbox.relay", acks_late=True, bind=True, max_retries=60)
def outbox_relay(self, event_id: str) -> str:
    """Deliver one event after its transaction committed.

    When a handler is not ready (its event depends on one still on its way, such as a rating
    relayed before the resolve it rates) or lost a lock conflict, retry within a second — 0.1 s,
    doubling, at most 1 s apart — for about a minute; other failures are left to
    `outbox.redeliver`. Eager Celery has no countdown, so there the sweep retries."""
    outcome = outbox_deliver(event_id=event_id)
    if outcome == Delivery.RETRY and not self.request.is_eager and self.request.retries < self.max_retries:
        raise self.retry(countdown=min(1.0, 0.1 * 2 ** self.request.retries))
    return outcome


@shared_task(name="outbox.redeliver", acks_late=True)
def outbox_redeliver() -> int:
    """Deliver events whose relay was lost (a crash between commit and dispatch, or a broker
    that was down at commit) once they are `OUTBOX_REDELIVER_AFTER` seconds old."""
    stale = timezone.now() - timedelta(seconds=getattr(settings, "OUTBOX_REDELIVER_AFTER", 20))
    ids = list(
        OutboxEvent.objects.filter(delivered_at__isnull=True, created_at__lt=stale)
        .order_by("created_at").values_list("id", flat=True)[:500]
    )
    for event_id in ids:
        outbox_deliver(event_id=event_id)
    return len(ids)


@shared_task(name="outbox.drain", acks_late=True)
def outbox_drain_task() -> int:
    """Every 10 s: feed the batch consumers their backlog, 1,000 events a transaction, for up to
    50 s (the relay delivers the same events one by one; whichever comes first consumes one).
    Under a backlog the next ticks overlap a running drain, so every worker process helps."""
    return outbox_drain()

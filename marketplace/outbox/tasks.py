from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from marketplace.outbox.models import OutboxEvent
from marketplace.outbox.services import outbox_deliver


@shared_task(name="outbox.relay", acks_late=True)
def outbox_relay(event_id: str) -> None:
    outbox_deliver(event_id=event_id)


@shared_task(name="outbox.redeliver", acks_late=True)
def outbox_redeliver() -> int:
    """Deliver events whose relay was lost (a crash between commit and dispatch)."""
    stale = timezone.now() - timedelta(seconds=20)
    ids = list(
        OutboxEvent.objects.filter(delivered_at__isnull=True, created_at__lt=stale)
        .order_by("created_at").values_list("id", flat=True)[:500]
    )
    for event_id in ids:
        outbox_deliver(event_id=event_id)
    return len(ids)

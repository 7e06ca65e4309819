import uuid

from django.db import models


class OutboxEvent(models.Model):
    """A domain event recorded in the same transaction as the change it describes.

    A lower app (workers, tickets) records it; higher apps consume it through handlers named in
    `settings.OUTBOX_HANDLERS`, each idempotently keyed by the event id (`ConsumedEvent`).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    topic = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="outbox_undelivered_idx",
                         condition=models.Q(delivered_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.id}"


class ConsumedEvent(models.Model):
    """Marks that one consumer handled one event, so a redelivery does nothing twice."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.PROTECT, related_name="consumptions")
    consumer = models.CharField(max_length=200)
    consumed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "consumer"], name="outbox_consumed_once"),
        ]

    def __str__(self) -> str:
        return f"{self.consumer} consumed {self.event_id}"

"""Tickets, their conversation, routing state and quality. Uses `workers`; knows nothing of payouts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from workers.models import ShiftClaim, Skill, Worker


class TicketStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    ASSIGNED = "assigned", "Assigned"
    RESOLVED = "resolved", "Resolved"
    ABANDONED = "abandoned", "Abandoned"


class Ticket(models.Model):
    """One customer case. The customer holds `token` (only its SHA-256 is stored)."""

    token_hash = models.CharField(max_length=64, unique=True)
    customer_name = models.CharField(max_length=200)
    customer_email = models.EmailField()
    # The embedding site's own id of the customer, when the widget passed one signed with
    # WIDGET_IDENTITY_SECRET (tickets.identity): the only key earlier tickets are matched on.
    customer_key = models.CharField(max_length=200, blank=True, default="")
    # When the retention purge anonymised the customer's name, email and messages (never undone).
    customer_data_purged_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=2)
    topic = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="tickets")
    status = models.CharField(max_length=16, choices=TicketStatus.choices, default=TicketStatus.QUEUED)
    assigned_worker = models.ForeignKey(
        Worker, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets"
    )
    # The claim the assigned worker was on when the ticket reached them (its multiplier pays).
    assigned_claim = models.ForeignKey(
        ShiftClaim, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets"
    )
    previous_worker = models.ForeignKey(
        Worker, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # FIFO order: lower `queue_priority` first (requeued-after-loss goes to the front), then time.
    queue_priority = models.SmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    # A default, not auto_now_add: `ticket_create(at=...)` records history with its own time.
    created_at = models.DateTimeField(default=timezone.now)
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    abandoned_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True, default="")
    resolution_category = models.CharField(max_length=40, blank=True, default="")
    # How many times it has been resolved: keys case pay (`case-pay:<ticket>:<n>`).
    resolution_count = models.PositiveIntegerField(default=0)
    resolved_by = models.ForeignKey(
        Worker, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.TextField(blank=True, default="")
    rated_at = models.DateTimeField(null=True, blank=True)
    # The last message seq handed out; incremented under the ticket's row lock (gapless).
    last_seq = models.PositiveIntegerField(default=0)
    # Routing hints, cleared on assignment: a reopened ticket prefers the worker who resolved it; a
    # ticket handed back (transfer to the queue, missed first response) avoids that worker if it can.
    prefer_worker = models.ForeignKey(Worker, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    avoid_worker = models.ForeignKey(Worker, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # When the customer's socket last closed or a customer message arrived (abandonment).
    customer_last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["queue_priority", "queued_at", "id"], name="ticket_queue_idx",
                         condition=Q(status="queued")),
            models.Index(fields=["assigned_worker", "status"], name="ticket_worker_idx"),
            models.Index(fields=["created_at"], name="ticket_created_idx"),
            models.Index(fields=["resolved_at"], name="ticket_resolved_idx"),
            models.Index(fields=["customer_email"], name="ticket_email_idx"),
            models.Index(fields=["customer_key", "created_at"], name="ticket_customer_key_idx",
                         condition=~Q(customer_key="")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | (Q(rating__gte=1) & Q(rating__lte=5)),
                name="ticket_rating_range",
            ),
            models.CheckConstraint(
                condition=~Q(status="assigned") | Q(assigned_worker__isnull=False),
                name="ticket_assigned_has_worker",
            ),
        ]

    def __str__(self) -> str:
        return f"Ticket {self.pk} ({self.status})"


class MessageSender(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    WORKER = "worker", "Worker"
    SYSTEM = "system", "System"


class Message(models.Model):
    # Indexed by message_seq_unique (ticket, seq), not by an index of its own: one less per message.
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="messages", db_index=False)
    seq = models.PositiveIntegerField()
    sender = models.CharField(max_length=16, choices=MessageSender.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    body = models.TextField()
    client_id = models.CharField(max_length=100, blank=True, default="")
    internal = models.BooleanField(default=False)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["ticket", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["ticket", "client_id"], condition=~Q(client_id=""), name="message_client_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.ticket_id}#{self.seq}"


class TicketEvent(models.Model):
    """Append-only audit trail of a ticket: assignment, transfer, resolve, reopen, rating."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=40)
    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="ticket_event_idx")]

    def __str__(self) -> str:
        return f"{self.kind} on ticket {self.ticket_id}"


class RoutingLock(models.Model):
    """The single row whose lock serialises routing passes across every process (see ARCHITECTURE.md)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_pass_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="routing_lock_singleton")]

    def __str__(self) -> str:
        return "routing lock"


class CannedResponse(models.Model):
    """A reply template for the worker console; ops manage them on /ops/canned-responses/.

    Placeholders and their rendering: `tickets.canned_responses`.
    """

    title = models.CharField(max_length=100)
    body = models.TextField(max_length=4000)
    language = models.CharField(max_length=2, blank=True, default="")
    topic = models.ForeignKey(Skill, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title

"""Ledger, earnings, payout runs, Stripe. Uses `workers` and `tickets`.

Money is an integer count of the currency's minor unit plus a lowercase ISO currency.

The ledger is double-entry: a `JournalTransaction` holds `JournalLine`s whose amounts sum to zero
per currency. On PostgreSQL the database enforces it (a deferred constraint trigger) and refuses
UPDATE/DELETE of lines and transactions (migration 0002). `LedgerAccount.balance` is a cache of
the sum of its lines, updated in the posting's transaction; `verify_ledger` proves they agree.

Sign convention: worker accounts hold positive balances (money attributed to the worker); the
platform accounts carry the opposite side (`case_expense` goes negative as case pay is earned).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tickets.models import Ticket
from workers.models import Worker


class RateCard(models.Model):
    """One version of the rate card. Rows are never edited: a change is a new version.

    The current card is the highest `version`.
    """

    version = models.PositiveIntegerField(unique=True)
    currency = models.CharField(max_length=3, default="eur")
    base_per_case = models.PositiveIntegerField()
    csat_bonus = models.PositiveIntegerField()
    hold_hours = models.PositiveIntegerField()
    minimum_payout = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.CheckConstraint(condition=Q(currency__regex=r"^[a-z]{3}$"), name="ratecard_currency_iso"),
        ]

    def __str__(self) -> str:
        return f"Rate card v{self.version} ({self.currency})"


class RateCardChange(models.Model):
    """Append-only audit of rate-card edits: who made which version from which, and what changed."""

    rate_card = models.OneToOneField(RateCard, on_delete=models.PROTECT, related_name="change")
    previous = models.ForeignKey(RateCard, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    changes = models.JSONField(default=dict, blank=True)  # {"field": [old, new]}
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Rate card change {self.pk}"


class AccountKind(models.TextChoices):
    # Per worker
    WORKER_PENDING = "worker_pending", "Pending (in hold)"
    WORKER_AVAILABLE = "worker_available", "Available"
    WORKER_IN_TRANSIT = "worker_in_transit", "In transit"
    WORKER_PAID = "worker_paid", "Paid out"
    # Platform
    CASE_EXPENSE = "case_expense", "Case expense"
    STRIPE_CLEARING = "stripe_clearing", "Stripe clearing"
    ADJUSTMENTS = "adjustments", "Adjustments"


WORKER_ACCOUNT_KINDS = (
    AccountKind.WORKER_PENDING,
    AccountKind.WORKER_AVAILABLE,
    AccountKind.WORKER_IN_TRANSIT,
    AccountKind.WORKER_PAID,
)


class LedgerAccount(models.Model):
    """A ledger account: one per (kind, worker, currency); platform accounts have no worker.

    `balance` caches the sum of the account's lines; only `ledger_post` changes it.
    """

    kind = models.CharField(max_length=32, choices=AccountKind.choices)
    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="ledger_accounts")
    currency = models.CharField(max_length=3)
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "worker", "currency"], condition=Q(worker__isnull=False),
                                    name="ledger_account_worker_unique"),
            models.UniqueConstraint(fields=["kind", "currency"], condition=Q(worker__isnull=True),
                                    name="ledger_account_platform_unique"),
            models.CheckConstraint(
                condition=(Q(kind__startswith="worker_") & Q(worker__isnull=False))
                | (~Q(kind__startswith="worker_") & Q(worker__isnull=True)),
                name="ledger_account_owner_matches_kind",
            ),
            # Worker accounts never go negative except `available`, which an adjustment may push
            # below zero (it is then recovered from later earnings).
            models.CheckConstraint(
                condition=~Q(kind__in=["worker_pending", "worker_in_transit", "worker_paid"]) | Q(balance__gte=0),
                name="ledger_account_worker_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        owner = f"worker {self.worker_id}" if self.worker_id else "platform"
        return f"{self.kind} {owner} {self.currency}"


class JournalKind(models.TextChoices):
    CASE_PAY = "case_pay", "Case pay earned"
    CSAT_BONUS = "csat_bonus", "CSAT bonus earned"
    VOID = "void", "Earning voided (reopen)"
    SETTLE = "settle", "Hold passed: pending to available"
    PAYOUT_START = "payout_start", "Payout started: available to in transit"
    PAYOUT_PAID = "payout_paid", "Payout paid"
    PAYOUT_FAILED = "payout_failed", "Payout failed: back to available"
    PAYOUT_REVERSED = "payout_reversed", "Transfer reversed: back to available"
    ADJUSTMENT = "adjustment", "Adjustment"


class JournalTransaction(models.Model):
    """One posting. Its lines sum to zero per currency; its key makes it happen at most once."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=JournalKind.choices)
    memo = models.CharField(max_length=500, blank=True, default="")
    refs = models.JSONField(default=dict, blank=True)
    # db_index=False where a composite index below starts with the column: one less index to write
    # on every posting.
    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               db_index=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    payout = models.ForeignKey("Payout", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="journal_transactions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["created_at"], name="journal_created_idx"),
            models.Index(fields=["worker", "created_at"], name="journal_worker_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}"


class JournalLine(models.Model):
    """One side of a posting: a signed amount on an account. Immutable (a trigger refuses changes)."""

    # Indexed by the two Meta indexes below, not by a second index of their own.
    transaction = models.ForeignKey(JournalTransaction, on_delete=models.PROTECT, related_name="lines",
                                    db_index=False)
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="lines", db_index=False)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        indexes = [
            models.Index(fields=["account"], name="journal_line_account_idx"),
            # Lets the balance trigger find a transaction's last line in O(log n) (migration 0004).
            models.Index(fields=["transaction", "id"], name="journal_line_txn_id_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="journal_line_nonzero"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} on account {self.account_id}"


class EarningKind(models.TextChoices):
    CASE_PAY = "case_pay", "Case pay"
    CSAT_BONUS = "csat_bonus", "CSAT bonus"


class EarningStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    AVAILABLE = "available", "Available"
    IN_PAYOUT = "in_payout", "In payout"
    PAID = "paid", "Paid"
    VOIDED = "voided", "Voided"


class Earning(models.Model):
    """What a worker earned for one resolution of one ticket (case pay) or its 5-star rating."""

    # Indexed by earning_worker_status_idx and earning_once_per_resolution (their first columns).
    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="earnings", db_index=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="earnings", db_index=False)
    kind = models.CharField(max_length=16, choices=EarningKind.choices)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=EarningStatus.choices, default=EarningStatus.PENDING)
    # Not indexed: rate cards are versioned and never deleted, and nothing lists earnings by card.
    rate_card = models.ForeignKey(RateCard, on_delete=models.PROTECT, related_name="earnings", db_index=False)
    multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=1)
    resolution_n = models.PositiveIntegerField(default=1)
    claim_id = models.BigIntegerField(null=True, blank=True)
    earned_at = models.DateTimeField()  # when resolved (or rated)
    available_at = models.DateTimeField()  # when the hold ends
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    # Indexed only where set (earning_payout_idx): most earnings are not paid out yet, and every
    # posted or settled earning would otherwise write a NULL entry.
    payout = models.ForeignKey("Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="earnings",
                               db_index=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "kind", "resolution_n"], name="earning_once_per_resolution"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="earning_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["available_at"], name="earning_pending_due_idx", condition=Q(status="pending")),
            models.Index(fields=["worker", "status"], name="earning_worker_status_idx"),
            models.Index(fields=["created_at"], name="earning_created_idx"),
            models.Index(fields=["payout"], name="earning_payout_idx", condition=Q(payout__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} ticket {self.ticket_id} ({self.status})"


class PayoutRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class PayoutRun(models.Model):
    status = models.CharField(max_length=16, choices=PayoutRunStatus.choices, default=PayoutRunStatus.QUEUED)
    trigger = models.CharField(max_length=16, default="manual")  # manual | schedule | command
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    transfer_group = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    payouts_count = models.PositiveIntegerField(default=0)
    paid_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, default="eur")
    error = models.TextField(blank=True, default="")
    # Who the run left out and why, written once when its payouts are created:
    # [{"worker", "worker_name", "reason", "available", "minimum"}] (see `payouts.runs.SkipReason`).
    skipped = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Payout run {self.pk} ({self.status})"


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_TRANSIT = "in_transit", "In transit"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"


class Payout(models.Model):
    """One Stripe Connect transfer to one worker. Its money sits in the worker's in_transit account
    from creation until paid (→ paid account) or failed (→ available again)."""

    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="payouts")
    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="payouts")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=PayoutStatus.choices, default=PayoutStatus.PENDING)
    destination = models.CharField(max_length=64)  # the Stripe account at creation
    stripe_transfer_id = models.CharField(max_length=64, blank=True, default="")
    idempotency_key = models.CharField(max_length=100, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    reversed_amount = models.BigIntegerField(default=0)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            # At most one open payout per worker: whatever runs overlap, a worker is never paid
            # twice for the same money.
            models.UniqueConstraint(fields=["worker"], condition=Q(status__in=["pending", "in_transit"]),
                                    name="payout_one_open_per_worker"),
            models.UniqueConstraint(fields=["stripe_transfer_id"], condition=~Q(stripe_transfer_id=""),
                                    name="payout_transfer_unique"),
            models.CheckConstraint(condition=Q(reversed_amount__gte=0) & Q(reversed_amount__lte=models.F("amount")),
                                   name="payout_reversed_within_amount"),
        ]
        indexes = [
            models.Index(fields=["run", "status"], name="payout_run_status_idx"),
            models.Index(fields=["worker", "created_at"], name="payout_worker_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="payout_open_idx",
                         condition=Q(status__in=["pending", "in_transit"])),
        ]

    def __str__(self) -> str:
        return f"Payout {self.pk} {self.amount} {self.currency} ({self.status})"


class PayoutEvent(models.Model):
    """Append-only audit of a payout's life: created, attempt, paid, failed, reversed."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=32)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} payout {self.payout_id}"


class StripeEvent(models.Model):
    """A webhook event from Stripe, recorded once per event id."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100)
    # The id of the object the event is about (account, transfer): orders events per object.
    object_id = models.CharField(max_length=100, blank=True, default="")
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(null=True, blank=True)  # Stripe's `created`
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["object_id", "type"], name="stripe_event_object_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"

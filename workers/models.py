"""People, vetting, shifts and presence. This app knows nothing of tickets or payouts."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from kernel.accounts.tokens import tokens_revoke_all
from kernel.audit.models import AuditAction
from kernel.audit.services import record

# Seats taken on a shift (`workers_shift` in the query): its seat rows that hold a claim.
SEATS_TAKEN_SQL = ("(SELECT count(*) FROM workers_shiftseat seat WHERE seat.shift_id = workers_shift.id"
                   " AND seat.claim_id IS NOT NULL)")


class Role(models.TextChoices):
    WORKER = "worker", "Worker"
    OPS = "ops", "Operations"
    FINANCE = "finance", "Finance"
    ADMIN = "admin", "Administrator"


class User(AbstractUser):
    """Everyone who signs in. Customers are not users: they hold a ticket token."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.WORKER)

    # Every password change (API, pages, admin, commands, reset) goes through set_password and
    # then save: the save revokes every API token of the user (docs/decisions.md, issue 14).
    password_changed_pending = False

    def set_password(self, raw_password) -> None:
        super().set_password(raw_password)
        self.password_changed_pending = True

    def save(self, *args, **kwargs) -> None:
        created = self.pk is None
        super().save(*args, **kwargs)
        if self.password_changed_pending:
            self.password_changed_pending = False
            if not created:
                tokens_revoke_all(self.pk)
                record(AuditAction.AUTH_PASSWORD_CHANGE, target=self)

    @property
    def is_ops(self) -> bool:
        return self.role in (Role.OPS, Role.ADMIN)

    @property
    def is_finance(self) -> bool:
        return self.role in (Role.FINANCE, Role.ADMIN)

    @property
    def is_worker(self) -> bool:
        return self.role == Role.WORKER


class Skill(models.Model):
    """One catalogue for worker skills, shift skills and ticket topics; ops manage it."""

    code = models.SlugField(max_length=40, primary_key=True)
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class WorkerStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SUSPENDED = "suspended", "Suspended"


class PayoutAccountStatus(models.TextChoices):
    NONE = "none", "Not connected"
    PENDING = "pending", "Onboarding"
    READY = "ready", "Ready"
    RESTRICTED = "restricted", "Restricted"


class Worker(models.Model):
    """A worker's profile. Its primary key is the user's id, so `worker` ids and user ids agree."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True, related_name="worker"
    )
    full_name = models.CharField(max_length=200)
    country = models.CharField(max_length=2)
    timezone = models.CharField(max_length=64)
    skills = models.ManyToManyField(Skill, related_name="workers", blank=True)
    status = models.CharField(max_length=16, choices=WorkerStatus.choices, default=WorkerStatus.APPLIED)
    quality_score = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    reliability_score = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("100"))
    concurrency_cap = models.PositiveSmallIntegerField(default=3)
    payout_account_status = models.CharField(
        max_length=16, choices=PayoutAccountStatus.choices, default=PayoutAccountStatus.NONE
    )
    stripe_account_id = models.CharField(max_length=64, blank=True, default="")
    applied_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # The latest assessment attempt's score (percent), copied here so the vetting queue needs no join.
    assessment_score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    assessment_taken_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status"], name="worker_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(concurrency_cap__gte=1) & Q(concurrency_cap__lte=20), name="worker_cap_range"
            ),
            models.UniqueConstraint(
                fields=["stripe_account_id"], condition=~Q(stripe_account_id=""),
                name="worker_stripe_account_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.user_id})"

    @property
    def username(self) -> str:
        return self.user.username


class WorkerLanguage(models.Model):
    """A language (ISO 639-1) a worker speaks. A table, not a JSON list, so routing can join it."""

    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="languages")
    language = models.CharField(max_length=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["worker", "language"], name="worker_language_unique"),
        ]
        indexes = [models.Index(fields=["language", "worker"], name="worker_language_idx")]

    def __str__(self) -> str:
        return f"{self.worker_id}:{self.language}"


class WorkerEvent(models.Model):
    """Append-only audit trail of a worker's vetting and standing (who, what, when, why)."""

    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=40)
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["worker", "created_at"], name="worker_event_idx")]

    def __str__(self) -> str:
        return f"{self.kind} worker {self.worker_id}"


class ShiftTemplate(models.Model):
    """A weekly recurring shift: every `weekday` at `start_time` (in `timezone`) for `duration`.

    A beat task publishes its shifts `weeks_ahead` weeks in advance (one per week, never twice).
    """

    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday … 6 = Sunday")
    start_time = models.TimeField()
    timezone = models.CharField(max_length=64, default="UTC")
    duration = models.DurationField()
    capacity = models.PositiveIntegerField()
    language = models.CharField(max_length=2)
    skills = models.ManyToManyField(Skill, related_name="shift_templates", blank=True)
    rate_multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    max_rate_multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    weeks_ahead = models.PositiveSmallIntegerField(default=2)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["weekday", "start_time", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="shift_template_weekday"),
            models.CheckConstraint(condition=Q(weeks_ahead__gte=1) & Q(weeks_ahead__lte=8),
                                   name="shift_template_weeks_ahead"),
        ]

    def __str__(self) -> str:
        return f"Weekly shift template {self.pk} (day {self.weekday} {self.start_time} {self.timezone})"


class ShiftStatus(models.TextChoices):
    PUBLISHED = "published", "Published"
    CANCELLED = "cancelled", "Cancelled"


class ShiftQuerySet(models.QuerySet["Shift"]):
    def with_seats_taken(self) -> ShiftQuerySet:
        """Shifts with `seats_taken` read in the same query."""
        return self.annotate(seats_taken=RawSQL(SEATS_TAKEN_SQL, [], output_field=models.IntegerField()))  # nosec B611 # constant SQL, no input in it


class Shift(models.Model):
    """A shift with `capacity` seats: one `ShiftSeat` row per seat, created and removed with the
    capacity by a trigger (migration 0008); a claim holds one of them."""

    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField()
    language = models.CharField(max_length=2)
    skills = models.ManyToManyField(Skill, related_name="shifts", blank=True)
    rate_multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    max_rate_multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    status = models.CharField(max_length=16, choices=ShiftStatus.choices, default=ShiftStatus.PUBLISHED)
    published_at = models.DateTimeField(default=timezone.now)  # shift_create(at=...) writes history
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Set when a weekly template published this shift; (template, starts_at) is unique.
    template = models.ForeignKey(ShiftTemplate, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="shifts")

    objects = ShiftQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["starts_at", "ends_at"], name="shift_window_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity__gte=1) & Q(capacity__lte=1000), name="shift_capacity_range"
            ),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="shift_ends_after_start"),
            models.CheckConstraint(condition=Q(rate_multiplier__gt=0), name="shift_multiplier_positive"),
            models.UniqueConstraint(fields=["template", "starts_at"], condition=Q(template__isnull=False),
                                    name="shift_once_per_template_slot"),
        ]

    def __str__(self) -> str:
        return f"Shift {self.pk} {self.starts_at:%Y-%m-%d %H:%M} {self.language}"

    # No counter on the shift row: every claim would update it, and claims on one shift would wait
    # for each other's commit (docs/ARCHITECTURE.md, "Seats").
    @property
    def seats_taken(self) -> int:
        """Seats held by active or completed claims: as read with the shift (`with_seats_taken()`,
        the selectors' SQL, the claim functions), else counted now."""
        if "_seats_taken" not in self.__dict__:
            return ShiftSeat.objects.filter(shift_id=self.pk, claim__isnull=False).count()
        return self.__dict__["_seats_taken"]

    @seats_taken.setter
    def seats_taken(self, value: int) -> None:
        self.__dict__["_seats_taken"] = value

    def refresh_from_db(self, *args, **kwargs) -> None:
        self.__dict__.pop("_seats_taken", None)
        super().refresh_from_db(*args, **kwargs)


class ShiftSeat(models.Model):
    """One seat of a shift; `claim` is the active or completed claim that holds it, or empty.

    A claim takes a free seat `FOR UPDATE SKIP LOCKED`, so claims on one shift never wait for each
    other. The seats of a shift are exactly its capacity (a trigger on `workers_shift`), and an active
    or completed claim holds exactly one seat that names it back (`claim_holds_its_seat`, a composite
    foreign key): the database refuses an overbooking whatever the code does.
    """

    shift = models.ForeignKey(Shift, on_delete=models.CASCADE, related_name="seats", db_index=False)
    claim = models.OneToOneField("ShiftClaim", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["shift", "id"], condition=Q(claim__isnull=True), name="seat_free_idx"),
            models.Index(fields=["shift"], condition=Q(claim__isnull=False), name="seat_taken_idx"),
        ]
        constraints = [
            # The target of the claims' composite foreign key `claim_holds_its_seat`.
            models.UniqueConstraint(fields=["id", "claim"], name="seat_id_claim_unique"),
        ]

    def __str__(self) -> str:
        return f"Seat {self.pk} of shift {self.shift_id}"


class ClaimStatus(models.TextChoices):
    ACTIVE = "active", "Active"  # holds a seat; checked in or not yet
    RELEASED = "released", "Released"
    LATE_RELEASED = "late_released", "Released late"
    NO_SHOW = "no_show", "No-show"
    COMPLETED = "completed", "Completed"  # checked out, or the shift ended while checked in
    CANCELLED = "cancelled", "Cancelled by ops"


class ShiftClaim(models.Model):
    """A worker's seat on a shift. Only an `active` claim holds a seat."""

    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="claims")
    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="claims")
    status = models.CharField(max_length=16, choices=ClaimStatus.choices, default=ClaimStatus.ACTIVE)
    # The multiplier at the moment of claiming: case pay uses this, whatever surge does later.
    rate_multiplier = models.DecimalField(max_digits=4, decimal_places=2)
    # Copied from the shift so overlap checks and routing need no join.
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    claimed_at = models.DateTimeField(auto_now_add=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_out_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    # The seat an active or completed claim holds; the seat names the claim back (migration 0008's
    # composite foreign key `claim_holds_its_seat` checks both, so this one needs no constraint).
    seat = models.ForeignKey(ShiftSeat, on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+",
                             db_constraint=False)

    class Meta:
        indexes = [
            models.Index(fields=["worker", "status", "starts_at"], name="claim_worker_idx"),
            models.Index(fields=["status", "starts_at"], name="claim_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["shift", "worker"], condition=Q(status="active"), name="claim_one_active_per_seat"
            ),
            models.CheckConstraint(condition=Q(seat__isnull=False) | ~Q(status__in=["active", "completed"]),
                                   name="claim_holds_a_seat"),
        ]

    def __str__(self) -> str:
        return f"Claim {self.pk} shift {self.shift_id} worker {self.worker_id} {self.status}"

    @property
    def is_checked_in(self) -> bool:
        return self.checked_in_at is not None and self.checked_out_at is None


class AgentPresence(models.Model):
    """Whether a worker's console is connected. Routing only assigns to connected workers.

    `connections` counts open agent sockets (several tabs or processes); `disconnected_at` starts
    the grace period after the last one closes.
    """

    worker = models.OneToOneField(Worker, on_delete=models.CASCADE, primary_key=True, related_name="presence")
    connections = models.PositiveIntegerField(default=0)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # For "longest idle" routing: when this worker last received a ticket.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Presence of {self.worker_id}: {self.connections}"


class ShiftEvent(models.Model):
    """Append-only log of what happened to a shift: created, edited, cancelled, rate changes (surge)."""

    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=40)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["shift", "kind", "created_at"], name="shift_event_idx")]

    def __str__(self) -> str:
        return f"{self.kind} shift {self.shift_id}"


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    PROMOTED = "promoted", "Got a seat"
    LEFT = "left", "Left the waitlist"
    EXPIRED = "expired", "Skipped (no longer eligible or overlapping)"
    CANCELLED = "cancelled", "Shift cancelled"


class ShiftWaitlistEntry(models.Model):
    """A worker queuing for a seat on a full shift; a freed seat goes to the first one waiting."""

    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="waitlist")
    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="waitlist_entries")
    status = models.CharField(max_length=16, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    claim = models.ForeignKey(ShiftClaim, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["shift", "status", "created_at"], name="waitlist_queue_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["shift", "worker"], condition=Q(status="waiting"), name="waitlist_one_waiting_per_worker"
            ),
        ]

    def __str__(self) -> str:
        return f"Waitlist shift {self.shift_id} worker {self.worker_id} {self.status}"


class WorkerNotice(models.Model):
    """Something the portal tells a worker: a cancelled shift, a seat from the waitlist."""

    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["worker", "created_at"], name="worker_notice_idx")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.worker_id}"


class AssessmentQuestion(models.Model):
    """A multiple-choice scenario question of the applicant quiz; ops manage them in the admin."""

    prompt = models.TextField()
    choices = models.JSONField(help_text="A list of answer texts.")
    correct_choice = models.PositiveSmallIntegerField(help_text="Index (from 0) of the right answer.")
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.prompt[:60]


class AssessmentAttempt(models.Model):
    """One submitted quiz, scored automatically. One attempt per worker per 24 h."""

    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="assessment_attempts")
    answers = models.JSONField(default=dict)
    correct = models.PositiveSmallIntegerField()
    total = models.PositiveSmallIntegerField()
    score = models.DecimalField(max_digits=5, decimal_places=2)
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [models.Index(fields=["worker", "submitted_at"], name="assessment_attempt_idx")]

    def __str__(self) -> str:
        return f"Attempt {self.pk} worker {self.worker_id}: {self.score}"

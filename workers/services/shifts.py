"""Shifts: publish, edit, cancel and surge them; weekly templates that publish them."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from kernel.audit.models import AuditAction
from kernel.audit.services import record as audit_record
from kernel.outbox.services import outbox_record
from workers import errors
from workers.errors import InvalidInput
from workers.events import broadcast_shift_on_commit
from workers.models import (
    ClaimStatus,
    Shift,
    ShiftClaim,
    ShiftEvent,
    ShiftSeat,
    ShiftStatus,
    ShiftTemplate,
    ShiftWaitlistEntry,
    User,
    WaitlistStatus,
    WorkerNotice,
)
from workers.services.validation import language_error, skill_errors, timezone_error, unique_codes

MULTIPLIER_MIN = Decimal("0.10")


MULTIPLIER_MAX = Decimal("9.99")


def shift_opens_to_all_at(shift: Shift) -> dt.datetime:
    """When workers without priority access see a shift: the head start after publishing, but
    never later than that head start before the shift begins (short-notice shifts are open to all).
    The rule is the SQL function the visibility and claim checks use (migration 0007), read here."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT workers_shift_opens_to_all_at(%s, %s, make_interval(secs => %s))",
                       [shift.published_at, shift.starts_at,
                        settings.SHIFTLINE["PRIORITY_HEAD_START"].total_seconds()])
        row = cursor.fetchone()
    assert row is not None
    return row[0]


def _shift_fields_check(*, starts_at: dt.datetime, ends_at: dt.datetime, capacity: int, language: str,
                        skills: list[str], rate_multiplier: Decimal, max_rate_multiplier: Decimal,
                        now: dt.datetime) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    if starts_at < now - settings.SHIFTLINE["SHIFT_START_GRACE"]:
        fields["starts_at"] = ["A shift may start at most 5 minutes in the past."]
    length = ends_at - starts_at
    if length <= dt.timedelta(0):
        fields["ends_at"] = ["The end is before the start: a shift must end after it starts."
                             if length < dt.timedelta(0) else "The end is the same as the start: a shift "
                             "must end after it starts."]
    elif length < settings.SHIFTLINE["SHIFT_MIN_LENGTH"]:
        fields["ends_at"] = ["This shift is too short: a shift lasts at least 15 minutes."]
    elif length > settings.SHIFTLINE["SHIFT_MAX_LENGTH"]:
        fields["ends_at"] = ["This shift is too long: a shift lasts at most 12 hours."]
    if not 1 <= capacity <= 1000:
        fields["capacity"] = ["Capacity is from 1 to 1000 seats."]
    if (error := language_error(language)) is not None:
        fields["language"] = [error]
    if bad_skills := skill_errors(skills):
        fields["skills"] = bad_skills
    if not MULTIPLIER_MIN <= rate_multiplier <= MULTIPLIER_MAX:
        fields["rate_multiplier"] = [f"The multiplier is from {MULTIPLIER_MIN} to {MULTIPLIER_MAX}."]
    elif not rate_multiplier <= max_rate_multiplier <= MULTIPLIER_MAX:
        fields["max_rate_multiplier"] = [
            f"The surge cap is from the multiplier ({rate_multiplier}) to {MULTIPLIER_MAX}."]
    return fields


@transaction.atomic
def shift_create(*, actor: User, starts_at: dt.datetime, ends_at: dt.datetime, capacity: int, language: str,
                 skills: list[str], rate_multiplier: Decimal = Decimal("1.00"),
                 max_rate_multiplier: Decimal | None = None, at: dt.datetime | None = None) -> Shift:
    """Publish a shift with no seats taken. `max_rate_multiplier` caps surge (default: no surge).
    `at` (default now) is when it is published, for history written through this path."""
    now = at or timezone.now()
    language = language.strip().lower()
    skills = unique_codes(skills, lower=True)
    if max_rate_multiplier is None:
        max_rate_multiplier = rate_multiplier
    fields = _shift_fields_check(starts_at=starts_at, ends_at=ends_at, capacity=capacity, language=language,
                                 skills=skills, rate_multiplier=rate_multiplier,
                                 max_rate_multiplier=max_rate_multiplier, now=now)
    if fields:
        raise InvalidInput("Some fields are not valid: " + ", ".join(sorted(fields)) + ".", fields=fields)
    shift = Shift.objects.create(starts_at=starts_at, ends_at=ends_at, capacity=capacity, language=language,
                                 rate_multiplier=rate_multiplier, max_rate_multiplier=max_rate_multiplier,
                                 created_by=actor, published_at=now)
    shift.skills.set(skills)  # type: ignore[arg-type]  # Skill's pk is its code; the stubs take int pks only
    ShiftEvent.objects.create(shift=shift, actor=actor, kind="created", created_at=now, data={
        "rate_multiplier": str(rate_multiplier), "max_rate_multiplier": str(max_rate_multiplier)})
    audit_record(AuditAction.SHIFT_CREATE, actor=actor, target=shift, after=_shift_audit_state(shift))
    return shift


def _shift_audit_state(shift: Shift) -> dict:
    """What the audit trail keeps of a shift: its times, seats, language and pay multipliers."""
    return {"status": shift.status, "starts_at": shift.starts_at.isoformat(), "ends_at": shift.ends_at.isoformat(),
            "capacity": shift.capacity, "seats_taken": shift.seats_taken, "language": shift.language,
            "rate_multiplier": str(shift.rate_multiplier), "max_rate_multiplier": str(shift.max_rate_multiplier)}


_EDITABLE = ("starts_at", "ends_at", "capacity", "language", "skills", "rate_multiplier", "max_rate_multiplier")


@transaction.atomic
def shift_update(*, shift_id: int, actor: User, **changes) -> Shift:
    """Edit a published shift that nobody has ever claimed (409 `shift_has_claims` otherwise). A new
    capacity adds or removes the shift's seat rows (the trigger of migration 0008)."""
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise InvalidInput(fields={name: ["This field cannot be edited."] for name in sorted(unknown)})
    shift = Shift.objects.select_for_update().filter(pk=shift_id).first()
    if shift is None:
        raise errors.NotFound("No such shift.")
    if shift.status == ShiftStatus.CANCELLED:
        raise errors.ShiftCancelled()
    if ShiftClaim.objects.filter(shift=shift).exists():
        raise errors.ShiftHasClaims()
    current = {name: getattr(shift, name) for name in _EDITABLE if name != "skills"}
    current["skills"] = list(shift.skills.values_list("code", flat=True))
    merged = {**current, **changes}
    merged["language"] = merged["language"].strip().lower()
    merged["skills"] = unique_codes(merged["skills"], lower=True)
    if "rate_multiplier" in changes and "max_rate_multiplier" not in changes:
        merged["max_rate_multiplier"] = max(merged["rate_multiplier"], shift.max_rate_multiplier)
    fields = _shift_fields_check(now=timezone.now(), **merged)
    if fields:
        raise InvalidInput("Some fields are not valid: " + ", ".join(sorted(fields)) + ".", fields=fields)
    for name in _EDITABLE:
        if name != "skills":
            setattr(shift, name, merged[name])
    shift.save(update_fields=[n for n in _EDITABLE if n != "skills"])
    shift.skills.set(merged["skills"])
    ShiftEvent.objects.create(shift=shift, actor=actor, kind="edited", data={
        name: str(value) if not isinstance(value, list) else value for name, value in changes.items()})
    broadcast_shift_on_commit(shift.pk)
    return shift


@transaction.atomic
def shift_cancel(*, shift_id: int, actor: User, reason: str = "") -> Shift:
    """Cancel a shift: every active claim becomes `cancelled` and its worker gets a notice in the
    portal; checked-in workers are checked out (`worker.checked_out`); the waitlist is closed."""
    shift = Shift.objects.select_for_update().filter(pk=shift_id).first()
    if shift is None:
        raise errors.NotFound("No such shift.")
    if shift.status == ShiftStatus.CANCELLED:
        raise errors.InvalidTransition("This shift is already cancelled.")
    now = timezone.now()
    if shift.ends_at <= now:
        raise errors.ShiftEnded()
    when = shift.starts_at.strftime("%Y-%m-%d %H:%M UTC")
    before = _shift_audit_state(shift)
    cancelled = []
    for claim in ShiftClaim.objects.select_for_update().filter(shift=shift, status=ClaimStatus.ACTIVE).order_by("pk"):
        claim.status = ClaimStatus.CANCELLED
        claim.released_at = now
        update = ["status", "released_at"]
        if claim.is_checked_in:
            claim.checked_out_at = now
            update.append("checked_out_at")
            outbox_record(topic="worker.checked_out", payload={"worker_id": claim.worker_id, "claim_id": claim.pk})
        claim.save(update_fields=update)
        cancelled.append(claim.pk)
        message = f"Your shift of {when} was cancelled by operations."
        if reason.strip():
            message += f" Reason: {reason.strip()}"
        WorkerNotice.objects.create(worker_id=claim.worker_id, kind="shift_cancelled", shift=shift,
                                    message=message[:500])
    ShiftWaitlistEntry.objects.filter(shift=shift, status=WaitlistStatus.WAITING).update(
        status=WaitlistStatus.CANCELLED, resolved_at=now)
    # Their seats are free again (completed claims keep theirs: they were worked).
    ShiftSeat.objects.filter(claim_id__in=cancelled).update(claim=None)
    ShiftClaim.objects.filter(pk__in=cancelled).update(seat=None)
    shift.status = ShiftStatus.CANCELLED
    shift.save(update_fields=["status"])
    ShiftEvent.objects.create(shift=shift, actor=actor, kind="cancelled", data={"reason": reason.strip()})
    audit_record(AuditAction.SHIFT_CANCEL, actor=actor, target=shift, before=before,
                 after=_shift_audit_state(shift) | {"claims_cancelled": len(cancelled)})
    broadcast_shift_on_commit(shift.pk)
    return shift


@transaction.atomic
def shift_surge(*, shift_id: int) -> Decimal | None:
    """Raise the multiplier of a shift starting soon with free seats by one step, up to the cap
    ops set, at most once per interval; every change is a `rate_changed` ShiftEvent. Returns the new
    multiplier, or None when nothing changed. Claims already made keep their multiplier."""
    now = timezone.now()
    shift = Shift.objects.select_for_update(skip_locked=True).filter(pk=shift_id).first()
    if (shift is None or shift.status != ShiftStatus.PUBLISHED or shift.seats_taken >= shift.capacity
            or shift.rate_multiplier >= shift.max_rate_multiplier
            or not now < shift.starts_at <= now + settings.SHIFTLINE["SURGE_WINDOW"]):
        return None
    last = ShiftEvent.objects.filter(shift=shift, kind="rate_changed").order_by("-created_at").first()
    if last is not None and last.created_at > now - settings.SHIFTLINE["SURGE_INTERVAL"]:
        return None
    old = shift.rate_multiplier
    shift.rate_multiplier = surge_next(old, shift.max_rate_multiplier)
    shift.save(update_fields=["rate_multiplier"])
    ShiftEvent.objects.create(shift=shift, kind="rate_changed", data={
        "from": str(old), "to": str(shift.rate_multiplier), "reason": "surge",
        "seats_left": shift.capacity - shift.seats_taken})
    broadcast_shift_on_commit(shift.pk)
    return shift.rate_multiplier


def surge_next(multiplier: Decimal, cap: Decimal) -> Decimal:
    """The multiplier one surge step above `multiplier`, never above the shift's cap."""
    return min(multiplier + Decimal(settings.SHIFTLINE["SURGE_STEP"]), cap)


def surge_multipliers(multiplier: Decimal, cap: Decimal, *, at_most: int = 25) -> list[Decimal]:
    """The multipliers a shift may reach by surging from `multiplier`, in order, itself first: at
    most `at_most` of them (a tiny step under a high cap would make thousands)."""
    reachable = [multiplier]
    while reachable[-1] < cap and len(reachable) < at_most:
        following = surge_next(reachable[-1], cap)
        if following <= reachable[-1]:  # a step of zero (or less) in the settings: no surge
            break
        reachable.append(following)
    return reachable


@transaction.atomic
def shift_template_create(*, actor: User, weekday: int, start_time: dt.time, timezone_name: str,
                          duration: dt.timedelta, capacity: int, language: str, skills: list[str],
                          rate_multiplier: Decimal = Decimal("1.00"), max_rate_multiplier: Decimal | None = None,
                          weeks_ahead: int = 2) -> ShiftTemplate:
    """A weekly recurring shift; its shifts for the next `weeks_ahead` weeks are published at once
    (and then by the hourly beat task)."""
    language = language.strip().lower()
    skills = unique_codes(skills, lower=True)
    if max_rate_multiplier is None:
        max_rate_multiplier = rate_multiplier
    probe = timezone.now() + dt.timedelta(days=1)
    fields = _shift_fields_check(starts_at=probe, ends_at=probe + duration, capacity=capacity, language=language,
                                 skills=skills, rate_multiplier=rate_multiplier,
                                 max_rate_multiplier=max_rate_multiplier, now=timezone.now())
    if "ends_at" in fields:
        fields["duration"] = fields.pop("ends_at")
    if not 0 <= weekday <= 6:
        fields["weekday"] = ["0 (Monday) to 6 (Sunday)."]
    if (error := timezone_error(timezone_name)) is not None:
        fields["timezone"] = [error]
    if not 1 <= weeks_ahead <= 8:
        fields["weeks_ahead"] = ["From 1 to 8 weeks."]
    if fields:
        raise InvalidInput("Some fields are not valid: " + ", ".join(sorted(fields)) + ".", fields=fields)
    template = ShiftTemplate.objects.create(
        weekday=weekday, start_time=start_time, timezone=timezone_name, duration=duration, capacity=capacity,
        language=language, rate_multiplier=rate_multiplier, max_rate_multiplier=max_rate_multiplier,
        weeks_ahead=weeks_ahead, created_by=actor)
    template.skills.set(skills)  # type: ignore[arg-type]  # Skill's pk is its code; the stubs take int pks only
    shift_template_generate(template_id=template.pk)
    return template


@transaction.atomic
def shift_template_deactivate(*, template_id: int, actor: User) -> ShiftTemplate:
    """Stop publishing new shifts from the template; shifts already published stay."""
    template = ShiftTemplate.objects.select_for_update().filter(pk=template_id).first()
    if template is None:
        raise errors.NotFound("No such template.")
    if not template.active:
        raise errors.InvalidTransition("This template is already inactive.")
    template.active = False
    template.save(update_fields=["active"])
    return template


@transaction.atomic
def shift_template_generate(*, template_id: int) -> list[Shift]:
    """Publish the template's shifts that start within its horizon and do not exist yet.

    Locks the template row; a slot is also unique in the database (`shift_once_per_template_slot`),
    so running it twice, even at once, publishes each shift once.
    """
    template = ShiftTemplate.objects.select_for_update().filter(pk=template_id, active=True).first()
    if template is None:
        return []
    tz = zoneinfo.ZoneInfo(template.timezone)
    now = timezone.now()
    today = now.astimezone(tz).date()
    skills = list(template.skills.values_list("code", flat=True))
    existing = set(Shift.objects.filter(template=template, starts_at__gte=now).values_list("starts_at", flat=True))
    made = []
    for offset in range(template.weeks_ahead * 7 + 1):
        day = today + dt.timedelta(days=offset)
        if day.weekday() != template.weekday:
            continue
        starts_at = dt.datetime.combine(day, template.start_time, tzinfo=tz).astimezone(dt.UTC)
        if starts_at <= now or starts_at in existing:
            continue
        shift = Shift.objects.create(
            starts_at=starts_at, ends_at=starts_at + template.duration, capacity=template.capacity,
            language=template.language, rate_multiplier=template.rate_multiplier,
            max_rate_multiplier=template.max_rate_multiplier, created_by=template.created_by, template=template)
        shift.skills.set(skills)  # type: ignore[arg-type]  # Skill's pk is its code; the stubs take int pks only
        ShiftEvent.objects.create(shift=shift, kind="created", data={"template": template.pk})
        made.append(shift)
    return made

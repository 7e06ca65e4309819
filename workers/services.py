"""Every write of the workers app. Keyword-only, typed, one transaction each.

Lock order, everywhere, so that no two services deadlock: worker rows, then shift rows (in primary
key order), then claim rows, then waitlist rows. Giving a freed seat to the waitlist locks the
candidate worker with SKIP LOCKED, so it never waits (a candidate busy at that instant is passed
over for this seat and stays on the waitlist).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

import pycountry
from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from rest_framework.authtoken.models import Token

from marketplace.async_db import async_pool
from marketplace.outbox.services import outbox_record
from workers import errors
from workers.errors import BadCredentials, InvalidInput
from workers.events import broadcast_shift, broadcast_shift_on_commit
from workers.models import (
    AssessmentAttempt,
    AssessmentQuestion,
    ClaimStatus,
    Role,
    Shift,
    ShiftClaim,
    ShiftEvent,
    ShiftStatus,
    ShiftTemplate,
    ShiftWaitlistEntry,
    Skill,
    User,
    WaitlistStatus,
    Worker,
    WorkerEvent,
    WorkerLanguage,
    WorkerNotice,
    WorkerStatus,
)
from workers.selectors import has_priority_access

MULTIPLIER_MIN = Decimal("0.10")
MULTIPLIER_MAX = Decimal("9.99")


def _conf(name: str):
    return settings.SHIFTLINE[name]


# --- Accounts --------------------------------------------------------------------------------


@transaction.atomic
def staff_create(*, role: str, username: str, password: str, email: str = "") -> User:
    """Create a staff account (ops, finance, admin). Refuses an existing username."""
    if role not in (Role.OPS, Role.FINANCE, Role.ADMIN):
        raise InvalidInput(f"Staff role must be ops, finance or admin, not {role!r}.",
                           fields={"role": ["Not a staff role."]})
    if User.objects.filter(username__iexact=username).exists():
        raise InvalidInput("That username is taken.", fields={"username": ["Already taken."]})
    return User.objects.create_user(
        username=username, password=password, email=email, role=role,
        is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN,
    )


def auth_token_issue(*, username: str, password: str) -> tuple[Token, User]:
    """Check the credentials and return the user's API token (created once, then reused)."""
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise BadCredentials()
    token, _ = Token.objects.get_or_create(user=user)
    return token, user


# --- Validation shared by the API and the pages ----------------------------------------------


def language_error(code: str) -> str | None:
    if not isinstance(code, str) or len(code) != 2 or pycountry.languages.get(alpha_2=code.lower()) is None:
        return f"{code!r} is not an ISO 639-1 language code (such as \"en\" or \"pt\")."
    return None


def country_error(code: str) -> str | None:
    if not isinstance(code, str) or len(code) != 2 or pycountry.countries.get(alpha_2=code.upper()) is None:
        return f"{code!r} is not an ISO 3166-1 alpha-2 country code (such as \"PT\")."
    return None


def timezone_error(name: str) -> str | None:
    if not isinstance(name, str) or name not in zoneinfo.available_timezones():
        return f"{name!r} is not an IANA timezone name (such as \"Europe/Lisbon\")."
    return None


def skill_errors(codes: Iterable[str]) -> list[str]:
    codes = list(codes)
    known = set(Skill.objects.filter(code__in=codes, active=True).values_list("code", flat=True))
    return [f"{code!r} is not a skill in the catalogue." for code in codes if code not in known]


def _unique_codes(codes: Iterable[str], *, lower: bool) -> list[str]:
    seen: list[str] = []
    for code in codes:
        code = code.strip().lower() if lower else code.strip()
        if code not in seen:
            seen.append(code)
    return seen


# --- Applying and vetting --------------------------------------------------------------------


def worker_apply(*, username: str, password: str, email: str, full_name: str, country: str,
                 timezone_name: str, languages: list[str], skills: list[str]) -> Worker:
    """Create a worker account in status `applied`. Every bad field is reported at once.

    A taken username is named as such (the applicant must pick another); a taken email is refused
    with the same wording whether or not the address is registered to an active account.
    """
    fields: dict[str, list[str]] = {}
    username, email, full_name = username.strip(), email.strip(), full_name.strip()
    languages = _unique_codes(languages, lower=True)
    skills = _unique_codes(skills, lower=True)
    if not full_name:
        fields["full_name"] = ["Enter your full name."]
    try:
        validate_email(email)
    except DjangoValidationError:
        fields["email"] = ["Enter a valid email address."]
    if (error := country_error(country)) is not None:
        fields["country"] = [error]
    if (error := timezone_error(timezone_name)) is not None:
        fields["timezone"] = [error]
    if not languages:
        fields["languages"] = ["Choose at least one language."]
    elif language_errors := [e for e in map(language_error, languages) if e]:
        fields["languages"] = language_errors
    if bad_skills := skill_errors(skills):
        fields["skills"] = bad_skills
    if User.objects.filter(username__iexact=username).exists():
        fields["username"] = ["This username is taken; choose another."]
    if "email" not in fields and User.objects.filter(email__iexact=email).exists():
        fields["email"] = ["This email address cannot be used for a new application."]
    try:
        password_validation.validate_password(
            password, user=User(username=username, email=email, first_name=full_name[:150])
        )
    except DjangoValidationError as exc:
        fields["password"] = list(exc.messages)
    if fields:
        raise InvalidInput("Some fields are not valid: " + ", ".join(sorted(fields)) + ".", fields=fields)

    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, email=email,
                                            role=Role.WORKER, first_name=full_name[:150])
            worker = Worker.objects.create(user=user, full_name=full_name, country=country.upper(),
                                           timezone=timezone_name, status=WorkerStatus.APPLIED)
            WorkerLanguage.objects.bulk_create(WorkerLanguage(worker=worker, language=code) for code in languages)
            worker.skills.set(skills)
            WorkerEvent.objects.create(worker=worker, actor=user, kind="applied", to_status=WorkerStatus.APPLIED)
    except IntegrityError:  # a concurrent application took the username in the meantime
        raise InvalidInput("Some fields are not valid: username.",
                           fields={"username": ["This username is taken; choose another."]})
    return worker


_TRANSITIONS = {
    "approve": ({WorkerStatus.APPLIED, WorkerStatus.SUSPENDED}, WorkerStatus.APPROVED),
    "reject": ({WorkerStatus.APPLIED}, WorkerStatus.REJECTED),
    "suspend": ({WorkerStatus.APPROVED}, WorkerStatus.SUSPENDED),
}


def _worker_transition(*, worker_id: int, actor: User, action: str, reason: str, reason_required: bool) -> Worker:
    """Lock the worker, check the transition, change the status and write the audit event."""
    allowed, to_status = _TRANSITIONS[action]
    worker = Worker.objects.select_for_update().filter(pk=worker_id).first()
    if worker is None:
        raise errors.NotFound("No such worker.")
    from_status = worker.status
    if from_status not in allowed:
        done = {"approve": "approved", "reject": "rejected", "suspend": "suspended"}[action]
        raise errors.InvalidTransition(f"A worker whose status is {from_status} cannot be {done}.")
    reason = (reason or "").strip()
    if reason_required and not reason:
        raise InvalidInput("Some fields are not valid: reason.", fields={"reason": ["Give a reason."]})
    now = timezone.now()
    worker.status = to_status
    worker.status_changed_at = now
    worker.save(update_fields=["status", "status_changed_at"])
    kind = {"approve": "approved", "reject": "rejected", "suspend": "suspended"}[action]
    if action == "approve" and from_status == WorkerStatus.SUSPENDED:
        kind = "reinstated"
    WorkerEvent.objects.create(worker=worker, actor=actor, kind=kind, from_status=from_status,
                               to_status=to_status, reason=reason)
    return worker


@transaction.atomic
def worker_approve(*, worker_id: int, actor: User, reason: str = "") -> Worker:
    """`applied` → `approved`, or reinstate `suspended` → `approved`. 409 from any other status."""
    return _worker_transition(worker_id=worker_id, actor=actor, action="approve", reason=reason,
                              reason_required=False)


@transaction.atomic
def worker_reject(*, worker_id: int, actor: User, reason: str) -> Worker:
    """`applied` → `rejected`, with a reason."""
    return _worker_transition(worker_id=worker_id, actor=actor, action="reject", reason=reason,
                              reason_required=True)


@transaction.atomic
def worker_suspend(*, worker_id: int, actor: User, reason: str) -> Worker:
    """`approved` → `suspended`, with a reason.

    Ends the worker's claims on shifts that have not ended (status `cancelled`; each freed seat goes
    to the shift's waitlist or back on the board), takes them off every waitlist, and records
    `worker.suspended` so the tickets app requeues their open tickets.
    """
    worker = _worker_transition(worker_id=worker_id, actor=actor, action="suspend", reason=reason,
                                reason_required=True)
    now = timezone.now()
    open_claims = ShiftClaim.objects.filter(worker=worker, status=ClaimStatus.ACTIVE, ends_at__gt=now)
    shifts = {s.pk: s for s in Shift.objects.select_for_update().filter(
        pk__in=open_claims.values("shift_id")).order_by("pk")}
    for claim in open_claims.select_for_update().order_by("pk"):
        claim.status = ClaimStatus.CANCELLED
        claim.released_at = now
        update = ["status", "released_at"]
        if claim.is_checked_in:
            claim.checked_out_at = now
            update.append("checked_out_at")
        claim.save(update_fields=update)
        shift = shifts[claim.shift_id]
        _seat_freed(shift=shift, exclude_worker_id=worker.pk, now=now)
    ShiftWaitlistEntry.objects.filter(worker=worker, status=WaitlistStatus.WAITING).update(
        status=WaitlistStatus.LEFT, resolved_at=now)
    outbox_record(topic="worker.suspended", payload={"worker_id": worker.pk})
    return worker


# --- Assessment ------------------------------------------------------------------------------


@transaction.atomic
def assessment_submit(*, worker_id: int, answers: dict[str, int]) -> AssessmentAttempt:
    """Score one quiz attempt automatically. Applicants only; one attempt per 24 hours.

    `answers` maps question ids (as strings) to the index of the chosen answer; every active
    question must be answered.
    """
    worker = Worker.objects.select_for_update().get(pk=worker_id)
    if worker.status != WorkerStatus.APPLIED:
        raise errors.AssessmentClosed()
    now = timezone.now()
    cooldown = _conf("ASSESSMENT_COOLDOWN")
    last = AssessmentAttempt.objects.filter(worker=worker).order_by("-submitted_at").first()
    if last is not None and last.submitted_at > now - cooldown:
        next_at = (last.submitted_at + cooldown).replace(microsecond=0).isoformat()
        raise errors.AttemptTooSoon(f"One assessment attempt per 24 hours: try again after {next_at}.")
    questions = list(AssessmentQuestion.objects.filter(active=True))
    if not questions:
        raise errors.AssessmentClosed("There is no assessment to take right now.")
    fields: dict[str, list[str]] = {}
    correct = 0
    for question in questions:
        choice = answers.get(str(question.pk))
        if not isinstance(choice, int) or isinstance(choice, bool) or not 0 <= choice < len(question.choices):
            fields[f"answers.{question.pk}"] = ["Choose one of the answers."]
        elif choice == question.correct_choice:
            correct += 1
    if fields:
        raise InvalidInput("Answer every question.", fields=fields)
    score = (Decimal(100) * correct / len(questions)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    attempt = AssessmentAttempt.objects.create(
        worker=worker, answers={str(q.pk): answers[str(q.pk)] for q in questions},
        correct=correct, total=len(questions), score=score,
    )
    worker.assessment_score = score
    worker.assessment_taken_at = attempt.submitted_at
    worker.save(update_fields=["assessment_score", "assessment_taken_at"])
    WorkerEvent.objects.create(worker=worker, actor=worker.user, kind="assessment_submitted",
                               data={"score": str(score), "correct": correct, "total": len(questions)})
    return attempt


# --- Reliability -----------------------------------------------------------------------------

# Weights of the reliability formula (docs/ARCHITECTURE.md, "Reliability").
RELIABILITY_PRIOR = Decimal(2)
RELIABILITY_WEIGHTS = {"late_released": Decimal("0.5"), "no_show": Decimal(1), "missed_assignment": Decimal("0.25")}


def reliability_compute(*, completed: int, late_released: int, no_show: int, missed_assignment: int) -> Decimal:
    """100 × (completed + 2) / (completed + 2 + ½·late releases + no-shows + ¼·missed assignments)."""
    good = RELIABILITY_PRIOR + completed
    bad = (RELIABILITY_WEIGHTS["late_released"] * late_released + RELIABILITY_WEIGHTS["no_show"] * no_show
           + RELIABILITY_WEIGHTS["missed_assignment"] * missed_assignment)
    return (Decimal(100) * good / (good + bad)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def worker_reliability_refresh(*, worker_id: int) -> Decimal:
    """Recompute and store a worker's reliability over the last 90 days. Safe to repeat."""
    since = timezone.now() - _conf("RELIABILITY_WINDOW")
    counts = ShiftClaim.objects.filter(worker_id=worker_id, starts_at__gte=since).aggregate(
        completed=Count("pk", filter=Q(status=ClaimStatus.COMPLETED)),
        late_released=Count("pk", filter=Q(status=ClaimStatus.LATE_RELEASED)),
        no_show=Count("pk", filter=Q(status=ClaimStatus.NO_SHOW)),
    )
    missed = WorkerEvent.objects.filter(worker_id=worker_id, kind="missed_assignment", created_at__gte=since).count()
    score = reliability_compute(missed_assignment=missed, **counts)
    Worker.objects.filter(pk=worker_id).exclude(reliability_score=score).update(reliability_score=score)
    return score


def shift_opens_to_all_at(shift: Shift) -> dt.datetime:
    """When workers without priority access see a shift: the head start after publishing, but
    never later than that head start before the shift begins (short-notice shifts are open to all)."""
    head_start = _conf("PRIORITY_HEAD_START")
    return min(shift.published_at + head_start, shift.starts_at - head_start)


# --- Shifts: ops -----------------------------------------------------------------------------


def _shift_fields_check(*, starts_at: dt.datetime, ends_at: dt.datetime, capacity: int, language: str,
                        skills: list[str], rate_multiplier: Decimal, max_rate_multiplier: Decimal,
                        now: dt.datetime) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    if starts_at < now - _conf("SHIFT_START_GRACE"):
        fields["starts_at"] = ["A shift may start at most 5 minutes in the past."]
    length = ends_at - starts_at
    if length < _conf("SHIFT_MIN_LENGTH") or length > _conf("SHIFT_MAX_LENGTH"):
        fields["ends_at"] = ["A shift lasts from 15 minutes to 12 hours."]
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


def _shift_payload(shift: Shift) -> None:
    broadcast_shift_on_commit(shift.pk)


@transaction.atomic
def shift_create(*, actor: User, starts_at: dt.datetime, ends_at: dt.datetime, capacity: int, language: str,
                 skills: list[str], rate_multiplier: Decimal = Decimal("1.00"),
                 max_rate_multiplier: Decimal | None = None) -> Shift:
    """Publish a shift with no seats taken. `max_rate_multiplier` caps surge (default: no surge)."""
    language = language.strip().lower()
    skills = _unique_codes(skills, lower=True)
    if max_rate_multiplier is None:
        max_rate_multiplier = rate_multiplier
    fields = _shift_fields_check(starts_at=starts_at, ends_at=ends_at, capacity=capacity, language=language,
                                 skills=skills, rate_multiplier=rate_multiplier,
                                 max_rate_multiplier=max_rate_multiplier, now=timezone.now())
    if fields:
        raise InvalidInput("Some fields are not valid: " + ", ".join(sorted(fields)) + ".", fields=fields)
    shift = Shift.objects.create(starts_at=starts_at, ends_at=ends_at, capacity=capacity, language=language,
                                 rate_multiplier=rate_multiplier, max_rate_multiplier=max_rate_multiplier,
                                 created_by=actor)
    shift.skills.set(skills)
    ShiftEvent.objects.create(shift=shift, actor=actor, kind="created", data={
        "rate_multiplier": str(rate_multiplier), "max_rate_multiplier": str(max_rate_multiplier)})
    return shift


_EDITABLE = ("starts_at", "ends_at", "capacity", "language", "skills", "rate_multiplier", "max_rate_multiplier")


@transaction.atomic
def shift_update(*, shift_id: int, actor: User, **changes) -> Shift:
    """Edit a published shift that nobody has ever claimed (409 `shift_has_claims` otherwise)."""
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
    merged["skills"] = _unique_codes(merged["skills"], lower=True)
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
    _shift_payload(shift)
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
    for claim in ShiftClaim.objects.select_for_update().filter(shift=shift, status=ClaimStatus.ACTIVE).order_by("pk"):
        claim.status = ClaimStatus.CANCELLED
        claim.released_at = now
        update = ["status", "released_at"]
        if claim.is_checked_in:
            claim.checked_out_at = now
            update.append("checked_out_at")
            outbox_record(topic="worker.checked_out", payload={"worker_id": claim.worker_id, "claim_id": claim.pk})
        claim.save(update_fields=update)
        message = f"Your shift of {when} was cancelled by operations."
        if reason.strip():
            message += f" Reason: {reason.strip()}"
        WorkerNotice.objects.create(worker_id=claim.worker_id, kind="shift_cancelled", shift=shift,
                                    message=message[:500])
    ShiftWaitlistEntry.objects.filter(shift=shift, status=WaitlistStatus.WAITING).update(
        status=WaitlistStatus.CANCELLED, resolved_at=now)
    shift.status = ShiftStatus.CANCELLED
    shift.seats_taken = 0
    shift.save(update_fields=["status", "seats_taken"])
    ShiftEvent.objects.create(shift=shift, actor=actor, kind="cancelled", data={"reason": reason.strip()})
    _shift_payload(shift)
    return shift


# --- Shifts: workers -------------------------------------------------------------------------


# `_shift_for_worker` in SQL: the ORM spent about 6 ms of CPU building this query on every claim
# (measured in-process), more than the rest of the claim; the text is fixed, only values change.
_SHIFT_FOR_WORKER_SQL = """
SELECT s.*,
    EXISTS (SELECT 1 FROM workers_workerlanguage wl
            WHERE wl.worker_id = %(worker)s AND wl.language = s.language) AS speaks,
    EXISTS (SELECT 1 FROM workers_shift_skills ss
            WHERE ss.shift_id = s.id AND ss.skill_id NOT IN (
                SELECT ws.skill_id FROM workers_worker_skills ws WHERE ws.worker_id = %(worker)s)) AS lacks_skill,
    EXISTS (SELECT 1 FROM workers_shiftclaim c
            WHERE c.worker_id = %(worker)s AND c.shift_id = s.id AND c.status IN (%(active)s, %(completed)s)) AS held,
    EXISTS (SELECT 1 FROM workers_shiftclaim c
            WHERE c.worker_id = %(worker)s AND c.status = %(active)s AND c.shift_id <> s.id
              AND c.starts_at < s.ends_at AND c.ends_at > s.starts_at) AS overlaps
FROM workers_shift s
WHERE s.id = %(shift)s
"""


def _shift_for_worker(*, shift_id: int, worker_id: int) -> Shift | None:
    """The shift, annotated in one query with whether the worker speaks its language, lacks one of
    its skills, already holds (or worked) a seat on it, or holds an active claim overlapping it."""
    params = {"shift": shift_id, "worker": worker_id, "active": ClaimStatus.ACTIVE, "completed": ClaimStatus.COMPLETED}
    return next(iter(Shift.objects.raw(_SHIFT_FOR_WORKER_SQL, params)), None)


def _claim_refusal(*, worker: Worker, shift: Shift, now: dt.datetime) -> errors.DomainError | None:
    """Why `worker` may not take a seat on `shift` right now (capacity aside), or None.

    `shift` comes from `_shift_for_worker`, read after the caller locked the worker's row, so the
    overlap check cannot race another claim by the same worker.
    """
    if worker.status != WorkerStatus.APPROVED:
        return errors.WorkerNotApproved()
    if shift.status == ShiftStatus.CANCELLED:
        return errors.ShiftCancelled()
    if shift.ends_at <= now:
        return errors.ShiftEnded()
    if not shift.speaks or shift.lacks_skill:
        return errors.NotEligible()
    if not has_priority_access(worker) and shift_opens_to_all_at(shift) > now:
        opens = shift_opens_to_all_at(shift).replace(microsecond=0).isoformat()
        return errors.NotEligible(f"This shift is open to workers with priority access until {opens}.")
    if shift.held:
        return errors.AlreadyClaimed()
    if shift.overlaps:
        return errors.ShiftOverlap()
    return None


def _for_update(*, skip_locked: bool = False) -> str:
    """`FOR UPDATE` where the database has row locks (SQLite serialises writers instead)."""
    return connection.ops.for_update_sql(skip_locked=skip_locked) if connection.features.has_select_for_update else ""


_WORKER_FOR_CLAIM_SQL = "SELECT user_id, status, reliability_score FROM workers_worker WHERE user_id = %s"
_SHIFT_ROW_SQL = "SELECT * FROM workers_shift WHERE id = %s"


def _lock_worker(worker_id: int, *, skip_locked: bool = False) -> Worker | None:
    sql = f"{_WORKER_FOR_CLAIM_SQL} {_for_update(skip_locked=skip_locked)}"
    return next(iter(Worker.objects.raw(sql, [worker_id])), None)


_SEAT_TAKE_SQL = """
WITH seat AS (
    UPDATE workers_shift SET seats_taken = seats_taken + 1
    WHERE id = %(shift)s AND seats_taken < capacity AND status = 'published'
    RETURNING id, rate_multiplier, seats_taken, capacity, starts_at, ends_at
)
INSERT INTO workers_shiftclaim (shift_id, worker_id, status, rate_multiplier, starts_at, ends_at, claimed_at)
SELECT id, %(worker)s, 'active', rate_multiplier, starts_at, ends_at, %(now)s FROM seat
RETURNING id, rate_multiplier, (SELECT seats_taken FROM seat), (SELECT capacity FROM seat)
"""


def _seat_take(*, shift: Shift, worker_id: int, now: dt.datetime) -> ShiftClaim | None:
    """Take a seat and insert the claim, or return None when the shift is full (or no longer
    published). On PostgreSQL one statement: the conditional UPDATE, which the database arbitrates
    between all claimers, and the INSERT of the claim with the multiplier that UPDATE saw."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SEAT_TAKE_SQL, {"shift": shift.pk, "worker": worker_id, "now": now})
            row = cursor.fetchone()
        if row is None:
            return None
        claim = ShiftClaim(pk=row[0], shift=shift, worker_id=worker_id, status=ClaimStatus.ACTIVE,
                           rate_multiplier=Decimal(row[1]), starts_at=shift.starts_at, ends_at=shift.ends_at,
                           claimed_at=now)
        claim.shift_seats_taken, claim.shift_capacity = row[2], row[3]
        return claim
    updated = Shift.objects.filter(pk=shift.pk, seats_taken__lt=F("capacity"), status=ShiftStatus.PUBLISHED).update(
        seats_taken=F("seats_taken") + 1)
    if not updated:
        return None
    current = Shift.objects.values("rate_multiplier", "seats_taken", "capacity").get(pk=shift.pk)
    claim = ShiftClaim.objects.create(shift=shift, worker_id=worker_id, rate_multiplier=current["rate_multiplier"],
                                      starts_at=shift.starts_at, ends_at=shift.ends_at)
    claim.shift_seats_taken, claim.shift_capacity = current["seats_taken"], current["capacity"]
    return claim


@transaction.atomic
def shift_claim(*, worker_id: int, shift_id: int) -> ShiftClaim:
    """Take a seat on a shift for the worker.

    Locks the worker row (so one worker's claims are serialised and cannot overlap), then takes
    the seat with one conditional UPDATE that PostgreSQL arbitrates between all claimers: the
    seat count can never pass the capacity (also a check constraint). The claim keeps the
    multiplier the shift had at that moment.
    """
    now = timezone.now()
    worker = _lock_worker(worker_id)
    if worker is None:
        raise errors.WorkerNotApproved("Only workers can claim shifts.")
    if worker.status != WorkerStatus.APPROVED:
        raise errors.WorkerNotApproved()
    shift = _shift_for_worker(shift_id=shift_id, worker_id=worker_id)
    if shift is None:
        raise errors.NotFound("No such shift.")
    refusal = _claim_refusal(worker=worker, shift=shift, now=now)
    if refusal is not None:
        raise refusal
    claim = _seat_take(shift=shift, worker_id=worker_id, now=now)
    if claim is None:
        raise errors.ShiftFull()
    shift.seats_taken, shift.rate_multiplier = claim.shift_seats_taken, claim.rate_multiplier
    claim.shift = shift
    broadcast_shift_on_commit(shift.pk)
    return claim


def _seat_freed(*, shift: Shift, exclude_worker_id: int | None, now: dt.datetime) -> ShiftClaim | None:
    """A claim on `shift` (whose row the caller has locked) stopped holding its seat.

    The seat goes straight to the first waitlisted worker who may still take it, in this same
    transaction, so it can never be handed to two people; otherwise it goes back on the board.
    """
    promoted = None
    if shift.status == ShiftStatus.PUBLISHED and shift.ends_at > now and getattr(shift, "has_waiting", True):
        promoted = _waitlist_promote(shift=shift, exclude_worker_id=exclude_worker_id, now=now)
    if promoted is None:
        Shift.objects.filter(pk=shift.pk).update(seats_taken=F("seats_taken") - 1)
        shift.seats_taken -= 1
    _shift_payload(shift)
    return promoted


def _waitlist_promote(*, shift: Shift, exclude_worker_id: int | None, now: dt.datetime) -> ShiftClaim | None:
    waiting = (ShiftWaitlistEntry.objects.filter(shift=shift, status=WaitlistStatus.WAITING)
               .exclude(worker_id=exclude_worker_id).order_by("created_at", "id"))
    for entry in list(waiting[:25]):
        worker = _lock_worker(entry.worker_id, skip_locked=True)
        if worker is None:
            continue  # busy this instant (claiming, leaving the waitlist...): the next one gets the seat
        entry = ShiftWaitlistEntry.objects.filter(pk=entry.pk, status=WaitlistStatus.WAITING).first()
        if entry is None:
            continue
        candidate_view = _shift_for_worker(shift_id=shift.pk, worker_id=worker.pk)
        refusal = _claim_refusal(worker=worker, shift=candidate_view, now=now)
        if refusal is not None:
            ShiftWaitlistEntry.objects.filter(pk=entry.pk).update(status=WaitlistStatus.EXPIRED, resolved_at=now)
            continue
        claim = ShiftClaim.objects.create(shift=shift, worker_id=worker.pk, rate_multiplier=shift.rate_multiplier,
                                          starts_at=shift.starts_at, ends_at=shift.ends_at)
        ShiftWaitlistEntry.objects.filter(pk=entry.pk).update(status=WaitlistStatus.PROMOTED, resolved_at=now,
                                                              claim=claim)
        when = shift.starts_at.strftime("%Y-%m-%d %H:%M UTC")
        WorkerNotice.objects.create(worker_id=worker.pk, kind="waitlist_promoted", shift=shift,
                                    message=f"A seat freed up: you now hold a seat on the shift of {when}.")
        ShiftEvent.objects.create(shift=shift, kind="waitlist_promoted",
                                  data={"worker_id": worker.pk, "claim_id": claim.pk})
        return claim
    return None


def _active_claim_locked(*, worker_id: int, shift_id: int) -> ShiftClaim:
    claim = (ShiftClaim.objects.select_for_update().filter(shift_id=shift_id, worker_id=worker_id,
                                                           status=ClaimStatus.ACTIVE).first())
    if claim is None:
        raise errors.NotClaimed()
    return claim


def _lock_shift(shift_id: int) -> Shift | None:
    """Lock the shift row; `has_waiting` tells whether anyone is on its waitlist.

    `has_waiting` is read by a statement of its own once the lock is held: in the locking statement
    it would come from that statement's snapshot, taken before a wait for the lock, and miss a
    waitlist join that committed meanwhile (joins lock the shift too).
    """
    shift = next(iter(Shift.objects.raw(f"{_SHIFT_ROW_SQL} {_for_update()}", [shift_id])), None)
    if shift is not None:
        shift.has_waiting = ShiftWaitlistEntry.objects.filter(shift_id=shift_id,
                                                              status=WaitlistStatus.WAITING).exists()
    return shift


_RELEASE_SQL = """
UPDATE workers_shiftclaim SET status = %(status)s, released_at = %(now)s
WHERE shift_id = %(shift)s AND worker_id = %(worker)s AND status = 'active' AND checked_in_at IS NULL
RETURNING *
"""

# The seat of the claim a `released` CTE ended goes back on the board, in the same statement.
_SEAT_BACK_SQL = """
, seat AS (
    UPDATE workers_shift SET seats_taken = seats_taken - 1
    WHERE id = %(shift)s AND EXISTS (SELECT 1 FROM released)
    RETURNING seats_taken
)
SELECT released.*, (SELECT seats_taken FROM seat) AS shift_seats_taken FROM released
"""

# `_RELEASE_SQL`, freeing the seat in the same statement (PostgreSQL; when nobody is on the waitlist).
_RELEASE_AND_FREE_SQL = f"WITH released AS ({_RELEASE_SQL}){_SEAT_BACK_SQL}"


@transaction.atomic
def shift_release(*, worker_id: int, shift_id: int) -> ShiftClaim:
    """Give up a seat. Within 2 hours of the start it is recorded as a late release.

    Locks the shift row, then ends the claim with one conditional UPDATE; the freed seat goes to
    the waitlist in the same transaction (see `_seat_freed`).
    """
    now = timezone.now()
    shift = _lock_shift(shift_id)
    if shift is None:
        raise errors.NotFound("No such shift.")
    if shift.ends_at <= now:
        _active_claim_locked(worker_id=worker_id, shift_id=shift_id)
        raise errors.ShiftEnded()
    late = now > shift.starts_at - _conf("RELEASE_CUTOFF")
    status = ClaimStatus.LATE_RELEASED if late else ClaimStatus.RELEASED
    free_now = not shift.has_waiting and connection.vendor == "postgresql"
    released = list(ShiftClaim.objects.raw(_RELEASE_AND_FREE_SQL if free_now else _RELEASE_SQL,
                                           {"status": status, "now": now, "shift": shift_id, "worker": worker_id}))
    if not released:
        _active_claim_locked(worker_id=worker_id, shift_id=shift_id)  # 409 not_claimed when there is none
        raise errors.StillCheckedIn()
    claim = released[0]
    if free_now:
        shift.seats_taken = claim.shift_seats_taken
        _shift_payload(shift)
    else:
        _seat_freed(shift=shift, exclude_worker_id=worker_id, now=now)
    if late:
        worker_reliability_refresh(worker_id=worker_id)
    claim.shift = shift
    return claim


# --- Claim and release on the server's event loop (PostgreSQL) ---------------------------------
#
# Token-authenticated claims and releases over HTTP run these instead of the thread-bound services
# above (workers/api.py `seat_action_on_loop`): the same statements and the same rules
# (`_claim_refusal`), in a psycopg pipeline on the loop's async pool, so a claim is three round trips
# (token; lock the worker and read the shift; take the seat and commit) with no thread hand-off, and
# the shift row is locked only while PostgreSQL runs the last statement and its COMMIT. Measured in
# bench/claims.py (README "Shift claims"). Releases that need more than the common case (late,
# someone waitlisted, an ended shift, nothing to release) are left to `shift_release`.

# Seconds a loop claim or release waits for a pooled connection before the view takes the request.
LOOP_CONNECTION_TIMEOUT = 5.0
_LOCK_WORKER_SQL = f"{_WORKER_FOR_CLAIM_SQL} FOR UPDATE"
_LOCK_SHIFT_SQL = f"{_SHIFT_ROW_SQL} FOR UPDATE"
_SHIFT_ATTNAMES = frozenset(field.attname for field in Shift._meta.concrete_fields)


def _shift_from_cursor_row(description, row) -> Shift | None:
    """A Shift from a `SELECT s.*, <flags>` row: model fields by name, the flags as attributes."""
    if row is None:
        return None
    values = dict(zip((column.name for column in description), row, strict=True))
    shift = Shift(**{name: value for name, value in values.items() if name in _SHIFT_ATTNAMES})
    for name, value in values.items():
        if name not in _SHIFT_ATTNAMES:
            setattr(shift, name, value)
    return shift


async def shift_claim_on_loop(*, worker_id: int, shift_id: int) -> ShiftClaim:
    """`shift_claim` on the event loop: the same locks, rules, answers and broadcast."""
    shift_params = {"shift": shift_id, "worker": worker_id, "active": ClaimStatus.ACTIVE,
                    "completed": ClaimStatus.COMPLETED}
    pool = await async_pool("http")
    async with pool.connection(timeout=LOOP_CONNECTION_TIMEOUT) as conn, conn.pipeline() as pipeline:
        now = timezone.now()
        async with conn.transaction():
            worker_cursor = await conn.execute(_LOCK_WORKER_SQL, [worker_id], prepare=True)
            # Read after the worker's lock is granted (a statement of its own, so a snapshot of its
            # own): the overlap check sees every claim this worker committed before.
            shift_cursor = await conn.execute(_SHIFT_FOR_WORKER_SQL, shift_params, prepare=True)
            await pipeline.sync()
            worker_row = await worker_cursor.fetchone()
            if worker_row is None:
                raise errors.WorkerNotApproved("Only workers can claim shifts.")
            worker = Worker(user_id=worker_row[0], status=worker_row[1], reliability_score=worker_row[2])
            if worker.status != WorkerStatus.APPROVED:
                raise errors.WorkerNotApproved()
            shift = _shift_from_cursor_row(shift_cursor.description, await shift_cursor.fetchone())
            if shift is None:
                raise errors.NotFound("No such shift.")
            refusal = _claim_refusal(worker=worker, shift=shift, now=now)
            if refusal is not None:
                raise refusal
            seat_cursor = await conn.execute(_SEAT_TAKE_SQL, {"shift": shift_id, "worker": worker_id, "now": now},
                                             prepare=True)
        # The seat statement and COMMIT went together; a full shift took nothing and committed nothing.
        row = await seat_cursor.fetchone()
    if row is None:
        raise errors.ShiftFull()
    claim = ShiftClaim(pk=row[0], shift=shift, worker_id=worker_id, status=ClaimStatus.ACTIVE,
                       rate_multiplier=Decimal(row[1]), starts_at=shift.starts_at, ends_at=shift.ends_at,
                       claimed_at=now)
    shift.seats_taken, shift.rate_multiplier = row[2], claim.rate_multiplier
    broadcast_shift(shift_id)
    return claim


# `_RELEASE_AND_FREE_SQL` for an early release only: nothing happens unless the shift has not ended,
# the release is before the cut-off and nobody waits for a seat. It runs after `_LOCK_SHIFT_SQL`, as a
# statement of its own, so it sees every waitlist join committed before the lock was granted (joins
# lock the shift row too).
_EARLY_RELEASE_SQL = """
WITH early AS (
    SELECT s.id FROM workers_shift s
    WHERE s.id = %(shift)s AND s.ends_at > %(now)s AND s.starts_at - %(cutoff)s >= %(now)s
      AND NOT EXISTS (SELECT 1 FROM workers_shiftwaitlistentry e WHERE e.shift_id = s.id AND e.status = 'waiting')
), released AS (
    UPDATE workers_shiftclaim SET status = 'released', released_at = %(now)s
    WHERE shift_id = (SELECT id FROM early) AND worker_id = %(worker)s AND status = 'active'
      AND checked_in_at IS NULL
    RETURNING *
)""" + _SEAT_BACK_SQL


async def shift_release_on_loop(*, worker_id: int, shift_id: int) -> ShiftClaim | None:
    """`shift_release` on the event loop for the common case: an early release of an active claim
    on a shift nobody is waiting for. None (nothing changed) in every other case — a late release,
    a waitlist, an ended shift, nothing to release — which `shift_release` then decides.

    One round trip: the shift's row lock, the release and COMMIT go to PostgreSQL together, so the
    hottest row is never locked while an answer travels back to this process.
    """
    pool = await async_pool("http")
    async with pool.connection(timeout=LOOP_CONNECTION_TIMEOUT) as conn, conn.pipeline():
        params = {"now": timezone.now(), "shift": shift_id, "worker": worker_id, "cutoff": _conf("RELEASE_CUTOFF")}
        async with conn.transaction():
            shift_cursor = await conn.execute(_LOCK_SHIFT_SQL, [shift_id], prepare=True)
            released_cursor = await conn.execute(_EARLY_RELEASE_SQL, params, prepare=True)
        released = _released_claim(released_cursor.description, await released_cursor.fetchone())
        shift = _shift_from_cursor_row(shift_cursor.description, await shift_cursor.fetchone())
    if released is None:
        return None
    shift.seats_taken = released.shift_seats_taken
    released.shift = shift
    broadcast_shift(shift_id)
    return released


def _released_claim(description, row) -> ShiftClaim | None:
    if row is None:
        return None
    values = dict(zip((column.name for column in description), row, strict=True))
    claim = ShiftClaim(**{field.attname: values[field.column] for field in ShiftClaim._meta.concrete_fields})
    claim.shift_seats_taken = values["shift_seats_taken"]
    return claim


@transaction.atomic
def shift_check_in(*, worker_id: int, shift_id: int) -> ShiftClaim:
    """Check in from 15 minutes before the start until the end. Repeating it changes nothing.

    Records `worker.checked_in` so routing can start sending tickets.
    """
    now = timezone.now()
    if not Shift.objects.filter(pk=shift_id).exists():
        raise errors.NotFound("No such shift.")
    claim = _active_claim_locked(worker_id=worker_id, shift_id=shift_id)
    if claim.checked_in_at is None:
        if not claim.starts_at - _conf("CHECK_IN_OPENS_BEFORE") <= now < claim.ends_at:
            raise errors.OutsideWindow()
        claim.checked_in_at = now
        claim.save(update_fields=["checked_in_at"])
        outbox_record(topic="worker.checked_in", payload={"worker_id": worker_id, "claim_id": claim.pk})
    return claim


def _claim_complete(claim: ShiftClaim, *, at: dt.datetime) -> None:
    claim.status = ClaimStatus.COMPLETED
    claim.checked_out_at = at
    claim.save(update_fields=["status", "checked_out_at"])
    outbox_record(topic="worker.checked_out", payload={"worker_id": claim.worker_id, "claim_id": claim.pk})


@transaction.atomic
def shift_check_out(*, worker_id: int, shift_id: int) -> ShiftClaim:
    """End the worker's availability: the claim is `completed` (its seat stays counted: it was
    worked) and `worker.checked_out` makes the tickets app hand over their open tickets."""
    if not Shift.objects.filter(pk=shift_id).exists():
        raise errors.NotFound("No such shift.")
    claim = _active_claim_locked(worker_id=worker_id, shift_id=shift_id)
    if claim.checked_in_at is None:
        raise errors.NotCheckedIn()
    _claim_complete(claim, at=min(timezone.now(), claim.ends_at))
    worker_reliability_refresh(worker_id=worker_id)
    return claim


@transaction.atomic
def waitlist_join(*, worker_id: int, shift_id: int) -> ShiftWaitlistEntry:
    """Queue for a seat on a full shift the worker could otherwise claim."""
    now = timezone.now()
    worker = _lock_worker(worker_id)
    if worker is None or worker.status != WorkerStatus.APPROVED:
        raise errors.WorkerNotApproved()
    # The shift's row lock orders this join with every release: a release either sees this entry
    # (and promotes it) or frees its seat before we read the shift below and find it not full.
    if _lock_shift(shift_id) is None:
        raise errors.NotFound("No such shift.")
    shift = _shift_for_worker(shift_id=shift_id, worker_id=worker_id)
    if shift is None:
        raise errors.NotFound("No such shift.")
    refusal = _claim_refusal(worker=worker, shift=shift, now=now)
    if refusal is not None:
        raise refusal
    if shift.seats_taken < shift.capacity:
        raise errors.ShiftNotFull()
    if ShiftWaitlistEntry.objects.filter(shift=shift, worker_id=worker_id, status=WaitlistStatus.WAITING).exists():
        raise errors.AlreadyWaitlisted()
    return ShiftWaitlistEntry.objects.create(shift=shift, worker_id=worker_id)


@transaction.atomic
def waitlist_leave(*, worker_id: int, shift_id: int) -> ShiftWaitlistEntry:
    _lock_worker(worker_id)
    entry = ShiftWaitlistEntry.objects.filter(shift_id=shift_id, worker_id=worker_id,
                                              status=WaitlistStatus.WAITING).first()
    if entry is None:
        raise errors.NotWaitlisted()
    entry.status = WaitlistStatus.LEFT
    entry.resolved_at = timezone.now()
    entry.save(update_fields=["status", "resolved_at"])
    return entry


@transaction.atomic
def worker_notices_mark_read(*, worker_id: int) -> int:
    return WorkerNotice.objects.filter(worker_id=worker_id, read_at__isnull=True).update(read_at=timezone.now())


# --- Background jobs (called by workers/tasks.py) --------------------------------------------


@transaction.atomic
def claim_mark_no_show(*, claim_id: int) -> bool:
    """An active claim not checked into 15 minutes after the start becomes `no_show`.

    Its seat is freed (nobody used it): it goes to the waitlist or back on the board while the
    shift is still running. Returns False when there was nothing to do (safe to repeat).
    """
    now = timezone.now()
    shift_id = ShiftClaim.objects.filter(pk=claim_id).values_list("shift_id", flat=True).first()
    if shift_id is None:
        return False
    shift = Shift.objects.select_for_update().get(pk=shift_id)
    claim = ShiftClaim.objects.select_for_update().get(pk=claim_id)
    if (claim.status != ClaimStatus.ACTIVE or claim.checked_in_at is not None
            or claim.starts_at + _conf("NO_SHOW_AFTER") > now):
        return False
    claim.status = ClaimStatus.NO_SHOW
    claim.save(update_fields=["status"])
    _seat_freed(shift=shift, exclude_worker_id=claim.worker_id, now=now)
    worker_reliability_refresh(worker_id=claim.worker_id)
    return True


@transaction.atomic
def claim_complete_at_end(*, claim_id: int) -> bool:
    """At the end of its shift an active claim that is checked in becomes `completed` (and
    `worker.checked_out` is recorded); one never checked into is a no-show. Safe to repeat."""
    now = timezone.now()
    shift_id = ShiftClaim.objects.filter(pk=claim_id).values_list("shift_id", flat=True).first()
    if shift_id is None:
        return False
    shift = Shift.objects.select_for_update().get(pk=shift_id)
    claim = ShiftClaim.objects.select_for_update().get(pk=claim_id)
    if claim.status != ClaimStatus.ACTIVE or claim.ends_at > now:
        return False
    if claim.checked_in_at is not None:
        _claim_complete(claim, at=claim.ends_at)
    else:
        claim.status = ClaimStatus.NO_SHOW
        claim.save(update_fields=["status"])
        _seat_freed(shift=shift, exclude_worker_id=claim.worker_id, now=now)
    worker_reliability_refresh(worker_id=claim.worker_id)
    return True


@transaction.atomic
def shift_surge(*, shift_id: int) -> Decimal | None:
    """Raise the multiplier of a shift starting soon with free seats by one step, up to the cap
    ops set, at most once per interval; every change is a `rate_changed` ShiftEvent. Returns the new
    multiplier, or None when nothing changed. Claims already made keep their multiplier."""
    now = timezone.now()
    shift = Shift.objects.select_for_update(skip_locked=True).filter(pk=shift_id).first()
    if (shift is None or shift.status != ShiftStatus.PUBLISHED or shift.seats_taken >= shift.capacity
            or shift.rate_multiplier >= shift.max_rate_multiplier
            or not now < shift.starts_at <= now + _conf("SURGE_WINDOW")):
        return None
    last = ShiftEvent.objects.filter(shift=shift, kind="rate_changed").order_by("-created_at").first()
    if last is not None and last.created_at > now - _conf("SURGE_INTERVAL"):
        return None
    old = shift.rate_multiplier
    shift.rate_multiplier = min(old + Decimal(_conf("SURGE_STEP")), shift.max_rate_multiplier)
    shift.save(update_fields=["rate_multiplier"])
    ShiftEvent.objects.create(shift=shift, kind="rate_changed", data={
        "from": str(old), "to": str(shift.rate_multiplier), "reason": "surge",
        "seats_left": shift.capacity - shift.seats_taken})
    _shift_payload(shift)
    return shift.rate_multiplier


# --- Weekly shift templates ------------------------------------------------------------------


@transaction.atomic
def shift_template_create(*, actor: User, weekday: int, start_time: dt.time, timezone_name: str,
                          duration: dt.timedelta, capacity: int, language: str, skills: list[str],
                          rate_multiplier: Decimal = Decimal("1.00"), max_rate_multiplier: Decimal | None = None,
                          weeks_ahead: int = 2) -> ShiftTemplate:
    """A weekly recurring shift; its shifts for the next `weeks_ahead` weeks are published at once
    (and then by the hourly beat task)."""
    language = language.strip().lower()
    skills = _unique_codes(skills, lower=True)
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
    template.skills.set(skills)
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
        shift.skills.set(skills)
        ShiftEvent.objects.create(shift=shift, kind="created", data={"template": template.pk})
        made.append(shift)
    return made

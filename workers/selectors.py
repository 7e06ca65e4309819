"""Reads of the workers app, already scoped to what the caller may see.

An object outside the caller's scope is simply absent: the API answers 404, never 403.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import BigIntegerField, BooleanField, CharField, Count, F, JSONField, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from workers.models import (
    AssessmentAttempt,
    AssessmentQuestion,
    Shift,
    ShiftClaim,
    ShiftStatus,
    ShiftTemplate,
    ShiftWaitlistEntry,
    User,
    WaitlistStatus,
    Worker,
    WorkerEvent,
    WorkerLanguage,
    WorkerNotice,
    WorkerStatus,
)


def _with_codes(qs: QuerySet[Worker]) -> QuerySet[Worker]:
    """Workers with their user and, in the same query, `language_codes` and `skill_codes` (sorted)."""
    return qs.select_related("user").annotate(
        language_codes=ArraySubquery(
            WorkerLanguage.objects.filter(worker_id=OuterRef("pk")).order_by("language").values("language")),
        skill_codes=ArraySubquery(
            Worker.skills.through.objects.filter(worker_id=OuterRef("pk")).order_by("skill_id").values("skill_id")),
    )


# `_with_codes` for one worker already loaded (token authentication reads `user.worker` with the
# user): a fixed statement, since building the ORM query cost several times running it.
_CODES_SQL = """
SELECT ARRAY(SELECT language FROM workers_workerlanguage WHERE worker_id = %(worker)s ORDER BY language),
       ARRAY(SELECT skill_id FROM workers_worker_skills WHERE worker_id = %(worker)s ORDER BY skill_id)
"""


def worker_of(user: User) -> Worker | None:
    """The caller's worker profile with `language_codes` and `skill_codes`, or None for staff and
    anonymous users. One query when token authentication loaded the profile, two otherwise."""
    if not getattr(user, "is_authenticated", False) or not user.is_worker:
        return None
    try:
        worker = user.worker
    except Worker.DoesNotExist:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_CODES_SQL, {"worker": worker.pk})
        # Attributes like `workers_with_codes`' annotations, not model fields: mypy cannot know them.
        worker.language_codes, worker.skill_codes = cursor.fetchone()  # type: ignore[attr-defined]
    return worker


def workers_visible_to(user: User) -> QuerySet[Worker]:
    """Ops see every worker; a worker sees only themself."""
    qs = _with_codes(Worker.objects.all())
    if user.is_ops:
        return qs
    if user.is_worker:
        return qs.filter(pk=user.pk)
    return qs.none()


def worker_list(*, user: User, status: str | None = None) -> QuerySet[Worker]:
    qs = workers_visible_to(user).order_by("applied_at", "pk")
    if status:
        qs = qs.filter(status=status)
    return qs


def vetting_queue() -> QuerySet[Worker]:
    """Applications first (oldest first), then everyone else by latest change."""
    return (Worker.objects.select_related("user").prefetch_related("languages", "skills")
            .order_by(F("status_changed_at").desc(nulls_first=True), "applied_at"))


def worker_events(*, worker_id: int) -> QuerySet[WorkerEvent]:
    return WorkerEvent.objects.filter(worker_id=worker_id).select_related("actor").order_by("-created_at", "-id")


def has_priority_access(worker: Worker) -> bool:
    return worker.reliability_score >= Decimal(settings.SHIFTLINE["PRIORITY_MIN_RELIABILITY"])


# The worker-facing shift rules as fixed SQL fragments over `workers_shift`: the shift lists are
# read on every board refresh, and building the same conditions from querysets (Exists, OuterRef,
# ArraySubquery) cost several milliseconds of CPU a request, more than everything else together.
_BOARD_FIELDS = {
    "skill_codes": "ARRAY(SELECT ss.skill_id FROM workers_shift_skills ss WHERE ss.shift_id = workers_shift.id"
                   " ORDER BY ss.skill_id)",
    "rate_changes": "COALESCE((SELECT jsonb_agg(jsonb_build_object('at', e.created_at, 'rate_from',"
                    " e.data ->> 'from', 'rate_to', e.data ->> 'to') ORDER BY e.created_at, e.id)"
                    " FROM workers_shiftevent e WHERE e.shift_id = workers_shift.id AND e.kind = 'rate_changed'),"
                    " '[]')",
}
_WORKER_MAY_SEE = """workers_shift.status = 'published'
    AND EXISTS (SELECT 1 FROM workers_workerlanguage wl
                WHERE wl.worker_id = %s AND wl.language = workers_shift.language)
    AND NOT EXISTS (SELECT 1 FROM workers_shift_skills ss WHERE ss.shift_id = workers_shift.id AND ss.skill_id
                    NOT IN (SELECT ws.skill_id FROM workers_worker_skills ws WHERE ws.worker_id = %s))"""
_MY_CLAIM = """(SELECT c.id FROM workers_shiftclaim c WHERE c.shift_id = workers_shift.id AND c.worker_id = %s
                AND c.status IN ('active', 'completed') LIMIT 1)"""
_WAITLISTED = """EXISTS (SELECT 1 FROM workers_shiftwaitlistentry w WHERE w.shift_id = workers_shift.id
                         AND w.worker_id = %s AND w.status = 'waiting')"""


def _with_board_fields(qs: QuerySet[Shift]) -> QuerySet[Shift]:
    """Shifts with, in the same query, `skill_codes` (sorted) and `rate_changes` (oldest first,
    `{"at", "rate_from", "rate_to"}`)."""
    return qs.annotate(skill_codes=RawSQL(_BOARD_FIELDS["skill_codes"], [], output_field=ArrayField(CharField())),
                       rate_changes=RawSQL(_BOARD_FIELDS["rate_changes"], [], output_field=JSONField()))


def shifts_visible_to(*, user: User, now: dt.datetime | None = None) -> QuerySet[Shift]:
    """Ops: every shift. Workers: published shifts in a language they speak whose every skill they
    have; without priority access, only once the shift is open to all (see `shift_opens_to_all_at`).
    Worker querysets are annotated with `my_claim` (their active/completed claim id or None) and
    `waitlisted`."""
    now = now or timezone.now()
    if user.is_ops:
        return _with_board_fields(Shift.objects.all())
    if not user.is_worker:
        return Shift.objects.none()
    try:
        worker = user.worker  # loaded with the user by token authentication
    except Worker.DoesNotExist:
        return Shift.objects.none()
    qs = Shift.objects.filter(RawSQL(_WORKER_MAY_SEE, [worker.pk, worker.pk], output_field=BooleanField())).annotate(
        my_claim=RawSQL(_MY_CLAIM, [worker.pk], output_field=BigIntegerField()),
        waitlisted=RawSQL(_WAITLISTED, [worker.pk], output_field=BooleanField()))
    if not has_priority_access(worker):
        head_start = settings.SHIFTLINE["PRIORITY_HEAD_START"]
        qs = qs.filter(Q(published_at__lte=now - head_start) | Q(starts_at__lte=now + head_start))
    return _with_board_fields(qs)


def shift_list(*, user: User, starts_from: dt.datetime | None = None, starts_before: dt.datetime | None = None,
               language: str | None = None, available: bool | None = None) -> QuerySet[Shift]:
    """Shifts the caller may see, starting in [starts_from, starts_before). Workers, without a
    range, see only shifts that have not ended."""
    now = timezone.now()
    qs = shifts_visible_to(user=user, now=now)
    if starts_from is not None:
        qs = qs.filter(starts_at__gte=starts_from)
    if starts_before is not None:
        qs = qs.filter(starts_at__lt=starts_before)
    if starts_from is None and starts_before is None and not user.is_ops:
        qs = qs.filter(ends_at__gt=now)
    if language:
        qs = qs.filter(language=language)
    if available:
        qs = qs.filter(status=ShiftStatus.PUBLISHED, seats_taken__lt=F("capacity"), ends_at__gt=now)
    return qs.order_by("starts_at", "pk")


def claims_of(*, worker_id: int, statuses: list[str] | None = None, current: bool = False) -> QuerySet[ShiftClaim]:
    """A worker's claims, soonest first; `current`: those whose shift has not ended."""
    qs = ShiftClaim.objects.filter(worker_id=worker_id).select_related("shift").prefetch_related("shift__skills")
    if statuses:
        qs = qs.filter(status__in=statuses)
    if current:
        qs = qs.filter(ends_at__gt=timezone.now())
    return qs.order_by("starts_at", "pk")


def waitlist_position(entry: ShiftWaitlistEntry) -> int | None:
    if entry.status != WaitlistStatus.WAITING:
        return None
    return ShiftWaitlistEntry.objects.filter(
        shift_id=entry.shift_id, status=WaitlistStatus.WAITING
    ).filter(Q(created_at__lt=entry.created_at) | Q(created_at=entry.created_at, pk__lt=entry.pk)).count() + 1


def notices_of(*, worker_id: int, limit: int = 20) -> list[WorkerNotice]:
    return list(WorkerNotice.objects.filter(worker_id=worker_id).select_related("shift")[:limit])


def assessment_state(*, worker: Worker) -> dict:
    """The quiz for the worker: the questions (without answers), their last attempt and when the
    next attempt is allowed."""
    last = AssessmentAttempt.objects.filter(worker=worker).order_by("-submitted_at").first()
    cooldown = settings.SHIFTLINE["ASSESSMENT_COOLDOWN"]
    next_at = last.submitted_at + cooldown if last is not None else None
    can_take = worker.status == WorkerStatus.APPLIED and (next_at is None or next_at <= timezone.now())
    return {
        "questions": list(AssessmentQuestion.objects.filter(active=True)),
        "last_attempt": last,
        "next_attempt_at": next_at,
        "can_take": can_take,
    }


def ops_shift_board(*, include_past: bool = False) -> QuerySet[Shift]:
    qs = _with_board_fields(Shift.objects.all()).annotate(
        waitlist_count=Count("waitlist", filter=Q(waitlist__status=WaitlistStatus.WAITING)))
    if not include_past:
        qs = qs.filter(ends_at__gt=timezone.now())
    return qs.order_by("starts_at", "pk")


def shift_templates() -> QuerySet[ShiftTemplate]:
    return ShiftTemplate.objects.prefetch_related("skills", "shifts").order_by("weekday", "start_time", "pk")

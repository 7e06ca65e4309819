"""Reads of the workers app, already scoped to what the caller may see.

An object outside the caller's scope is simply absent: the API answers 404, never 403.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    Count,
    F,
    IntegerField,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.module_loading import import_string

from workers.models import (
    SEATS_TAKEN_SQL,
    AssessmentAttempt,
    AssessmentQuestion,
    ClaimStatus,
    Shift,
    ShiftClaim,
    ShiftQuerySet,
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


# The shift reads as fixed SQL over `workers_shift`: the shift lists are read on every board refresh,
# and building the same conditions from querysets cost more CPU a request than everything else together.
# Who may see what is `workers_shifts_hidden` (migration 0007), which the claim refusal calls too.
_WORKER_MAY_SEE = """workers_shift.status = 'published'
    AND EXISTS (SELECT 1 FROM workers_shifts_hidden(%s, %s, %s, %s) h
                WHERE h.shift_id = workers_shift.id AND h.reason IS NULL)"""
_SKILL_CODES = """ARRAY(SELECT ss.skill_id FROM workers_shift_skills ss WHERE ss.shift_id = workers_shift.id
                      ORDER BY ss.skill_id)"""
_RATE_CHANGES = """COALESCE((SELECT json_agg(json_build_object('at', workers_api_time(e.created_at),
                                               'rate_from', e.data ->> 'from', 'rate_to', e.data ->> 'to')
                                     ORDER BY e.created_at, e.id)
                            FROM workers_shiftevent e WHERE e.shift_id = workers_shift.id AND e.kind = 'rate_changed'),
                           '[]')"""
_MY_CLAIM = """(SELECT c.id FROM workers_shiftclaim c WHERE c.shift_id = workers_shift.id AND c.worker_id = %s
                AND c.status IN ('active', 'completed') LIMIT 1)"""
_WAITLISTED = """EXISTS (SELECT 1 FROM workers_shiftwaitlistentry w WHERE w.shift_id = workers_shift.id
                         AND w.worker_id = %s AND w.status = 'waiting')"""
# A shift as the API writes it (`ShiftOutput`), built by PostgreSQL.
_SHIFT_JSON = f"""json_build_object(
    'id', workers_shift.id, 'starts_at', workers_api_time(workers_shift.starts_at),
    'ends_at', workers_api_time(workers_shift.ends_at), 'capacity', workers_shift.capacity,
    'seats_taken', {SEATS_TAKEN_SQL},
    'seats_left', GREATEST(workers_shift.capacity - {SEATS_TAKEN_SQL}, 0),
    'language', workers_shift.language, 'skills', {_SKILL_CODES},
    'rate_multiplier', workers_shift.rate_multiplier::text,
    'max_rate_multiplier', workers_shift.max_rate_multiplier::text,
    'status', workers_shift.status, 'published_at', workers_api_time(workers_shift.published_at),
    'opens_to_all_at', workers_api_time(workers_shift_opens_to_all_at(workers_shift.published_at,
                                                                      workers_shift.starts_at, %s)),
    'rate_changes', {_RATE_CHANGES}, 'my_claim', {{my_claim}}, 'waitlisted', {{waitlisted}})"""


def _with_board_fields(qs: ShiftQuerySet) -> QuerySet[Shift]:
    """Shifts with, in the same query, `skill_codes` (sorted) and `rate_changes` (oldest first,
    `{"at", "rate_from", "rate_to"}`)."""
    return qs.with_seats_taken().annotate(
        skill_codes=RawSQL(_SKILL_CODES, [], output_field=ArrayField(CharField())),  # nosec B611 # constant SQL of this module, no input in it
        rate_changes=RawSQL(f"({_RATE_CHANGES})::jsonb", [], output_field=JSONField()))  # nosec B611 # constant SQL of this module, no input in it


def _worker_of(user: User) -> Worker | None:
    """The caller's worker profile (loaded with the user by token authentication), or None."""
    if not user.is_worker:
        return None
    try:
        return user.worker
    except Worker.DoesNotExist:
        return None


def _may_see(worker: Worker, now: dt.datetime) -> tuple[str, list]:
    return _WORKER_MAY_SEE, [worker.pk, now, Decimal(settings.SHIFTLINE["PRIORITY_MIN_RELIABILITY"]),
                             settings.SHIFTLINE["PRIORITY_HEAD_START"]]


def shifts_visible_to(*, user: User, now: dt.datetime | None = None) -> QuerySet[Shift]:
    """Ops: every shift. Workers: published shifts in a language they speak whose every skill they
    have; without priority access, only once the shift is open to all (`workers_shifts_hidden`).
    Worker querysets are annotated with `my_claim` (their active/completed claim id or None) and
    `waitlisted`."""
    if user.is_ops:
        return _with_board_fields(Shift.objects.all())
    if (worker := _worker_of(user)) is None:
        return Shift.objects.none()
    qs = Shift.objects.filter(RawSQL(*_may_see(worker, now or timezone.now()), output_field=BooleanField()))  # nosec B611 # constant SQL of this module; the worker and time are parameters
    return _with_board_fields(qs.annotate(my_claim=RawSQL(_MY_CLAIM, [worker.pk], output_field=BigIntegerField()),  # nosec B611 # constant SQL; the worker id is a parameter
                                          waitlisted=RawSQL(_WAITLISTED, [worker.pk], output_field=BooleanField())))  # nosec B611 # constant SQL; the worker id is a parameter


def _shift_list_sql(select: str, select_params: list, *, user: User, starts_from: dt.datetime | None = None,
                    starts_before: dt.datetime | None = None, language: str | None = None,
                    available: bool | None = None, current: bool = False, offset: int = 0,
                    limit: int) -> tuple[str, list] | None:
    """`SELECT <select>` over the shifts the caller may see (`shifts_visible_to`), starting in
    [starts_from, starts_before), soonest first; `current`: only shifts that have not ended (for
    workers without a range, always). `select` ends with `{my_claim}` and `{waitlisted}` (NULL for
    ops). None when the caller may see no shift."""
    now = timezone.now()
    where: list[str] = []
    params = list(select_params)
    if user.is_ops:
        select = select.format(my_claim="NULL", waitlisted="NULL")
    elif (worker := _worker_of(user)) is not None:
        select = select.format(my_claim=_MY_CLAIM, waitlisted=_WAITLISTED)
        params += [worker.pk, worker.pk]
        fragment, fragment_params = _may_see(worker, now)
        where.append(fragment)
        params += fragment_params
        current = current or (starts_from is None and starts_before is None)
    else:
        return None
    for condition, value in (("workers_shift.starts_at >= %s", starts_from),
                             ("workers_shift.starts_at < %s", starts_before),
                             ("workers_shift.language = %s", language),
                             ("workers_shift.ends_at > %s", now if current or available else None)):
        if value is not None:
            where.append(condition)
            params.append(value)
    if available:
        where.append("workers_shift.status = 'published' AND EXISTS (SELECT 1 FROM workers_shiftseat seat"
                     " WHERE seat.shift_id = workers_shift.id AND seat.claim_id IS NULL)")
    sql = (f"SELECT {select} FROM workers_shift WHERE {' AND '.join(where) or 'TRUE'}"  # nosec B608 # conditions are constants of this function; values are parameters
           " ORDER BY workers_shift.starts_at, workers_shift.id LIMIT %s OFFSET %s")
    return sql, [*params, limit, offset]


def shift_page(*, offset: int, limit: int, **filters) -> tuple[list[dict], int]:
    """One page of the shift list as the API writes it (`ShiftOutput`, built by PostgreSQL) and the
    total, in one query."""
    query = _shift_list_sql(f"{_SHIFT_JSON}, COUNT(*) OVER ()", [settings.SHIFTLINE["PRIORITY_HEAD_START"]],
                            offset=offset, limit=limit, **filters)
    if query is None:
        return [], 0
    with connection.cursor() as cursor:
        cursor.execute(*query)
        rows = cursor.fetchall()
    return [row[0] for row in rows], rows[0][1] if rows else 0


def shift_board(*, limit: int, **filters) -> list[Shift]:
    """Up to `limit` of the same list as shifts with `skill_codes`, `rate_changes`, `my_claim` and
    `waitlisted` (the worker's shift board page)."""
    query = _shift_list_sql(f"workers_shift.*, {SEATS_TAKEN_SQL} AS seats_taken, {_SKILL_CODES} AS skill_codes,"
                            f" {_RATE_CHANGES} AS rate_changes, {{my_claim}} AS my_claim,"
                            " {waitlisted} AS waitlisted", [], limit=limit, **filters)
    return [] if query is None else list(Shift.objects.raw(*query))


_CLAIM_SHIFT_SEATS_TAKEN = SEATS_TAKEN_SQL.replace("workers_shift.id", "workers_shiftclaim.shift_id")


def case_pay_pricer() -> Callable[[Decimal], tuple[int, str]] | None:
    """`multiplier -> (minor units, currency)` at today's rate card, through the function
    `settings.CASE_PAY_PRICER` names (the rate card belongs to an app above this one), or None."""
    return import_string(settings.CASE_PAY_PRICER)() if settings.CASE_PAY_PRICER else None


def claims_of(*, worker_id: int, statuses: list[str] | None = None, current: bool = False) -> QuerySet[ShiftClaim]:
    """A worker's claims, soonest first; `current`: those whose shift has not ended."""
    qs = (ShiftClaim.objects.filter(worker_id=worker_id).select_related("shift").prefetch_related("shift__skills")
          .annotate(shift_seats_taken=RawSQL(_CLAIM_SHIFT_SEATS_TAKEN, [], output_field=IntegerField())))  # nosec B611 # constant SQL, no input in it
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


# --- Where each person starts ----------------------------------------------------------------

def home_path(user) -> str:
    """The page a signed-in person starts on: ops the live board, finance their dashboard, an
    approved worker My shifts (the board when they hold no shift yet), anyone else who applied
    their application status. Paths, not view imports: the pages live in apps above this one."""
    if not getattr(user, "is_authenticated", False):
        return "/"
    if user.is_ops:
        return "/ops/live/"
    if user.is_finance:
        return "/finance/dashboard/"
    try:
        worker = user.worker
    except Worker.DoesNotExist:
        return "/"
    if worker.status != WorkerStatus.APPROVED:
        return "/application/"
    holds_shift = ShiftClaim.objects.filter(worker_id=worker.pk, status=ClaimStatus.ACTIVE,
                                            ends_at__gt=timezone.now()).exists()
    return "/my-shifts/" if holds_shift else "/shifts/"


def latest_decision(*, worker_id: int) -> WorkerEvent | None:
    """The worker's latest status change made by someone else (approve, reject, suspend), with
    its reason, for their application status page."""
    return (WorkerEvent.objects.filter(worker_id=worker_id)
            .exclude(kind="applied").exclude(to_status="").order_by("-created_at", "-id").first())


def console_shift(*, worker_id: int) -> dict:
    """What the console tells a worker about when chats can reach them: the claim they are checked
    into (`state` "running", or "early" when its shift starts later), else the next claim to check
    into ("claimed"), else "none". Chats are routed only during a checked-in shift."""
    now = timezone.now()
    claims = list(ShiftClaim.objects.filter(worker_id=worker_id, status=ClaimStatus.ACTIVE, ends_at__gt=now)
                  .order_by("starts_at", "pk")[:5])
    checked_in = next((c for c in claims if c.checked_in_at is not None), None)
    if checked_in is not None:
        return {"state": "running" if checked_in.starts_at <= now else "early", "claim": checked_in}
    if claims:
        return {"state": "claimed", "claim": claims[0],
                "check_in_from": claims[0].starts_at - settings.SHIFTLINE["CHECK_IN_OPENS_BEFORE"]}
    return {"state": "none", "claim": None}

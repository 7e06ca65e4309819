"""Claims: take and give up seats, check in and out, waitlists, and the jobs that end claims.

A claim, a release and a freed seat each run as one PostgreSQL function (migrations
`workers/0006_claim_functions`, `0008_shift_seats`), called once: the row locks are held only while
PostgreSQL runs it, never while an answer travels back here. A claim takes one of the shift's seat
rows (`ShiftSeat`) and holds the shift row only `FOR SHARE`, so claims on one shift do not wait for
each other. The eligibility rule lives there too (`workers_claim_refusal`), shared by claims,
waitlist joins and waitlist promotions.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from kernel.errors import DomainError
from kernel.outbox.services import outbox_record
from workers import errors
from workers.events import broadcast_shift_on_commit
from workers.models import (
    ClaimStatus,
    Shift,
    ShiftClaim,
    ShiftWaitlistEntry,
    WaitlistStatus,
    Worker,
    WorkerNotice,
    WorkerStatus,
)
from workers.services.reliability import worker_reliability_refresh
from workers.services.shifts import shift_opens_to_all_at

# The functions answer (refusal, claim row, shift row, seats taken); the rows' columns in model field order.
_CLAIM_FIELDS = ShiftClaim._meta.concrete_fields
_SHIFT_FIELDS = Shift._meta.concrete_fields
_CLAIM_ATTNAMES = [f.attname for f in _CLAIM_FIELDS]
_SHIFT_ATTNAMES = [f.attname for f in _SHIFT_FIELDS]
_ROWS = (", ".join(f"(r.claim).{f.column}" for f in _CLAIM_FIELDS) + ", "
         + ", ".join(f"(r.shift).{f.column}" for f in _SHIFT_FIELDS) + ", r.seats_taken")
_CLAIM_SQL = f"SELECT r.refusal, {_ROWS} FROM workers_shift_claim(%s, %s, %s, %s, %s) r"  # nosec B608 # column names from the models; values are parameters
_RELEASE_SQL = f"SELECT r.refusal, {_ROWS} FROM workers_shift_release(%s, %s, %s, %s, %s, %s) r"  # nosec B608 # column names from the models; values are parameters

_REFUSALS: dict[str, type[DomainError]] = {
    error.code: error for error in (errors.WorkerNotApproved, errors.ShiftCancelled, errors.ShiftEnded,
                                    errors.NotEligible, errors.AlreadyClaimed, errors.ShiftOverlap, errors.ShiftFull,
                                    errors.NotClaimed, errors.StillCheckedIn)
}


def _rule_params() -> list:
    return [settings.SHIFTLINE["PRIORITY_MIN_RELIABILITY"], settings.SHIFTLINE["PRIORITY_HEAD_START"]]


def _refusal_error(refusal: str, shift: Shift | None) -> DomainError:
    """The domain error for a refusal code of the SQL functions."""
    if refusal == "not_a_worker":
        return errors.WorkerNotApproved("Only workers can claim shifts.")
    if refusal == "not_found":
        return errors.NotFound("No such shift.")
    if refusal == "priority_window":
        assert shift is not None  # the functions return the shift with this refusal
        opens = shift_opens_to_all_at(shift).replace(microsecond=0).isoformat()
        return errors.NotEligible(f"This shift is open to workers with priority access until {opens}.")
    return _REFUSALS[refusal]()


def _seat_call(sql: str, params: list) -> ShiftClaim:
    """Run a claim or release function; the claim with its `shift`, or raise its refusal."""
    if not 0 < params[1] < 2**63:  # no such shift id (bigint); the function would not take it
        raise errors.NotFound("No such shift.")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    refusal, values = row[0], row[1:]
    split = len(_CLAIM_ATTNAMES)
    shift = None
    if values[split] is not None:
        shift = Shift.from_db(connection.alias, _SHIFT_ATTNAMES, values[split:-1])
        shift.seats_taken = values[-1]
    if refusal is not None:
        raise _refusal_error(refusal, shift)
    assert shift is not None  # a claim or release that went through returns its shift
    claim = ShiftClaim.from_db(connection.alias, _CLAIM_ATTNAMES, values[:split])
    claim.shift = shift
    broadcast_shift_on_commit(shift.pk)
    return claim


def shift_claim(*, worker_id: int, shift_id: int, at: dt.datetime | None = None) -> ShiftClaim:
    """Take a seat on a shift for the worker; the claim keeps the shift's multiplier of that moment.

    One statement (`workers_shift_claim`): locks the worker's row, so one worker's claims are
    serialised and cannot overlap, and the shift's row `FOR SHARE` (a cancel or an edit waits),
    checks the rules, then takes a free seat row `FOR UPDATE SKIP LOCKED`: concurrent claims take
    different seats without waiting for each other, and a claim holds a seat of its own in the
    database, so the claims never pass the capacity. Refusals, in order: worker_not_approved, 404, shift_cancelled,
    shift_ended, not_eligible, already_claimed, shift_overlap, shift_full. A refusal changes nothing.
    `at` (default now) is the moment the rules are read at, for history written through this path.
    """
    return _seat_call(_CLAIM_SQL, [worker_id, shift_id, at or timezone.now(), *_rule_params()])


def shift_release(*, worker_id: int, shift_id: int) -> ShiftClaim:
    """Give up a seat. Within `RELEASE_CUTOFF` (2 hours) of the start it is a late release, which
    counts against reliability.

    One statement (`workers_shift_release`): locks the shift row `FOR SHARE` and the claim's row,
    ends the claim and gives its seat row to the first waitlisted worker who may take it, or back to
    the board (`workers_seat_free`), so a seat is never given twice. Refusals: 404, not_claimed, shift_ended,
    checked_in.
    """
    claim = _seat_call(_RELEASE_SQL, [worker_id, shift_id, timezone.now(), settings.SHIFTLINE["RELEASE_CUTOFF"],
                                      *_rule_params()])
    if claim.status == ClaimStatus.LATE_RELEASED:
        worker_reliability_refresh(worker_id=worker_id)
    return claim


def seat_freed(*, claim: ShiftClaim, now: dt.datetime) -> int | None:
    """The claim, whose row and shift's row the caller has locked, stopped holding its seat: give the
    seat to the waitlist (the promoted claim's id) or back to the board (None), in the caller's
    transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT workers_seat_free(%s, %s, %s, %s)", [claim.pk, now, *_rule_params()])
        promoted = cursor.fetchone()[0]
    claim.seat_id = None
    broadcast_shift_on_commit(claim.shift_id)
    return promoted


def _claim_refusal(*, worker_id: int, shift: Shift, now: dt.datetime) -> DomainError | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT workers_claim_refusal(%s, %s, %s, %s, %s)", [worker_id, shift.pk, now, *_rule_params()])
        refusal = cursor.fetchone()[0]
    return None if refusal is None else _refusal_error(refusal, shift)


def _active_claim_locked(*, worker_id: int, shift_id: int) -> ShiftClaim:
    claim = (ShiftClaim.objects.select_for_update().filter(shift_id=shift_id, worker_id=worker_id,
                                                           status=ClaimStatus.ACTIVE).first())
    if claim is None:
        raise errors.NotClaimed()
    return claim


def _lock_worker(worker_id: int) -> Worker | None:
    return Worker.objects.select_for_update().filter(pk=worker_id).only("status").first()


@transaction.atomic
def shift_check_in(*, worker_id: int, shift_id: int, at: dt.datetime | None = None) -> ShiftClaim:
    """Check in from 15 minutes before the start until the end. Repeating it changes nothing.

    Records `worker.checked_in` so routing can start sending tickets. `at` (default now): when.
    """
    now = at or timezone.now()
    if not Shift.objects.filter(pk=shift_id).exists():
        raise errors.NotFound("No such shift.")
    claim = _active_claim_locked(worker_id=worker_id, shift_id=shift_id)
    if claim.checked_in_at is None:
        if not claim.starts_at - settings.SHIFTLINE["CHECK_IN_OPENS_BEFORE"] <= now < claim.ends_at:
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
    # The shift's row lock orders this join with every release (which holds it FOR SHARE): a release
    # either sees this entry (and promotes it) or frees its seat before we count the seats here.
    shift = Shift.objects.select_for_update().filter(pk=shift_id).first()
    if shift is None:
        raise errors.NotFound("No such shift.")
    refusal = _claim_refusal(worker_id=worker_id, shift=shift, now=now)
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
    Shift.objects.select_for_update().get(pk=shift_id)
    claim = ShiftClaim.objects.select_for_update().get(pk=claim_id)
    if (claim.status != ClaimStatus.ACTIVE or claim.checked_in_at is not None
            or claim.starts_at + settings.SHIFTLINE["NO_SHOW_AFTER"] > now):
        return False
    claim.status = ClaimStatus.NO_SHOW
    claim.save(update_fields=["status"])
    seat_freed(claim=claim, now=now)
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
    Shift.objects.select_for_update().get(pk=shift_id)
    claim = ShiftClaim.objects.select_for_update().get(pk=claim_id)
    if claim.status != ClaimStatus.ACTIVE or claim.ends_at > now:
        return False
    if claim.checked_in_at is not None:
        _claim_complete(claim, at=claim.ends_at)
    else:
        claim.status = ClaimStatus.NO_SHOW
        claim.save(update_fields=["status"])
        seat_freed(claim=claim, now=now)
    worker_reliability_refresh(worker_id=claim.worker_id)
    return True

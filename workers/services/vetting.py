"""Vetting: approve, reject, suspend and reinstate workers; the applicant assessment."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kernel.audit.models import AuditAction
from kernel.audit.services import record as audit_record
from kernel.outbox.services import outbox_record
from workers import errors
from workers.errors import InvalidInput
from workers.models import (
    AssessmentAttempt,
    AssessmentQuestion,
    ClaimStatus,
    Shift,
    ShiftClaim,
    ShiftWaitlistEntry,
    User,
    WaitlistStatus,
    Worker,
    WorkerEvent,
    WorkerStatus,
)
from workers.services.claims import seat_freed

_AUDIT_ACTIONS = {"approve": AuditAction.WORKER_APPROVE, "reject": AuditAction.WORKER_REJECT,
                  "suspend": AuditAction.WORKER_SUSPEND}
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
    audit_record(_AUDIT_ACTIONS[action], actor=actor, target=worker, before={"status": from_status},
                 after={"status": to_status, "status_changed_at": now.isoformat()})
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
    list(Shift.objects.select_for_update().filter(pk__in=open_claims.values("shift_id")).order_by("pk"))
    for claim in open_claims.select_for_update().order_by("pk"):
        claim.status = ClaimStatus.CANCELLED
        claim.released_at = now
        update = ["status", "released_at"]
        if claim.is_checked_in:
            claim.checked_out_at = now
            update.append("checked_out_at")
        claim.save(update_fields=update)
        seat_freed(claim=claim, now=now)
    ShiftWaitlistEntry.objects.filter(worker=worker, status=WaitlistStatus.WAITING).update(
        status=WaitlistStatus.LEFT, resolved_at=now)
    outbox_record(topic="worker.suspended", payload={"worker_id": worker.pk})
    return worker


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
    cooldown = settings.SHIFTLINE["ASSESSMENT_COOLDOWN"]
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

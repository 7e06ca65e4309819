"""A worker's personal data: everything Shiftline holds about them (export), and their deletion.

Apps above `workers` hold more of it (tickets handled, earnings, payouts). They take part through
`settings.PERSONAL_DATA_EXPORTERS` and `settings.PERSONAL_DATA_ERASERS`, lists of dotted paths
that this module calls, the way the outbox calls its handlers: `workers` imports none of them.
An exporter takes `worker` and returns a dict of sections; an eraser takes `worker`, `names` (the
personal names being removed) and `pseudonym`, and runs inside the deletion's transaction, so the
deletion is whole or nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from kernel.audit.models import AuditAction
from kernel.audit.services import record as audit_record
from workers import errors
from workers.errors import InvalidInput
from workers.models import (
    ClaimStatus,
    ShiftClaim,
    ShiftWaitlistEntry,
    User,
    WaitlistStatus,
    Worker,
    WorkerEvent,
)
from workers.services.claims import shift_check_out, shift_release


def worker_pseudonym(worker_id: int) -> str:
    """The stable name a deleted worker goes by. `#` is not allowed in usernames, so no one can
    register it."""
    return f"deleted#{worker_id}"


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else value


def worker_personal_data_export(*, worker: Worker) -> dict[str, Any]:
    """Everything Shiftline holds about the worker, as JSON-ready data: the profile and account,
    languages, skills, claims with their shifts, waitlist entries, vetting events, notices,
    assessment attempts and payout account status here; the other apps' sections from their
    exporters. Records `worker.export` (the audit entry commits with nothing else: a read)."""
    user = worker.user
    claims = ShiftClaim.objects.filter(worker=worker).select_related("shift").order_by("starts_at", "pk")
    data: dict[str, Any] = {
        "exported_at": timezone.now().isoformat(),
        "account": {"id": user.pk, "username": user.username, "email": user.email, "role": user.role,
                    "date_joined": _iso(user.date_joined), "last_login": _iso(user.last_login)},
        "profile": {"id": worker.pk, "full_name": worker.full_name, "country": worker.country,
                    "timezone": worker.timezone, "status": worker.status,
                    "quality_score": str(worker.quality_score), "reliability_score": str(worker.reliability_score),
                    "concurrency_cap": worker.concurrency_cap, "applied_at": _iso(worker.applied_at),
                    "status_changed_at": _iso(worker.status_changed_at),
                    "assessment_score": None if worker.assessment_score is None else str(worker.assessment_score),
                    "assessment_taken_at": _iso(worker.assessment_taken_at)},
        "payout_account": {"status": worker.payout_account_status, "stripe_account_id": worker.stripe_account_id},
        "languages": sorted(worker.languages.values_list("language", flat=True)),
        "skills": sorted(worker.skills.values_list("code", flat=True)),
        "claims": [{"id": c.pk, "shift": c.shift_id, "status": c.status, "rate_multiplier": str(c.rate_multiplier),
                    "claimed_at": _iso(c.claimed_at), "checked_in_at": _iso(c.checked_in_at),
                    "checked_out_at": _iso(c.checked_out_at), "released_at": _iso(c.released_at)} for c in claims],
        "shifts": [{"id": c.shift.pk, "starts_at": _iso(c.shift.starts_at), "ends_at": _iso(c.shift.ends_at),
                    "language": c.shift.language, "status": c.shift.status} for c in claims],
        "waitlist": [{"shift": e.shift_id, "status": e.status, "created_at": _iso(e.created_at),
                      "resolved_at": _iso(e.resolved_at)}
                     for e in ShiftWaitlistEntry.objects.filter(worker=worker).order_by("created_at", "pk")],
        "events": [{"kind": e.kind, "from_status": e.from_status, "to_status": e.to_status, "reason": e.reason,
                    "data": e.data, "created_at": _iso(e.created_at)}
                   for e in WorkerEvent.objects.filter(worker=worker).order_by("created_at", "pk")],
        "notices": [{"kind": n.kind, "message": n.message, "shift": n.shift_id, "created_at": _iso(n.created_at),
                     "read_at": _iso(n.read_at)} for n in worker.notices.order_by("created_at", "pk")],
        "assessment_attempts": [{"answers": a.answers, "correct": a.correct, "total": a.total, "score": str(a.score),
                                 "submitted_at": _iso(a.submitted_at)}
                                for a in worker.assessment_attempts.order_by("submitted_at", "pk")],
    }
    for path in settings.PERSONAL_DATA_EXPORTERS:
        data.update(import_string(path)(worker=worker))
    audit_record(AuditAction.WORKER_EXPORT, actor=user, target=worker)
    return data


@transaction.atomic
def worker_delete(*, user: User, password: object) -> Worker:
    """The worker deletes their account, confirming with their password.

    Missing password: 400 `invalid`; wrong: 403 `password_incorrect`; either changes nothing.
    Otherwise, in one transaction: open claims end through the claims services (released, or
    checked out when checked in: each freed seat goes to the waitlist), waitlist entries are left,
    the other apps' erasers run (open tickets requeued, names in transcripts replaced), the name,
    email and username become the stable pseudonym, the password becomes unusable and the account
    inactive (a token or session of an inactive user authenticates nobody). Ledger lines, earnings
    and payouts stay, so the ledger still balances and reports keep their figures. Audited
    `worker.delete`. Locks the worker row first (the services' lock order).
    """
    if not isinstance(password, str) or not password:
        raise InvalidInput("Some fields are not valid: password.",
                           fields={"password": ["Enter your password to delete your account."]})
    worker = Worker.objects.select_for_update().filter(pk=user.pk).first()
    if worker is None:
        raise errors.NotFound("You have no worker profile.")
    account = User.objects.select_for_update().get(pk=user.pk)
    if not account.is_active or not account.check_password(password):
        raise errors.PasswordIncorrect()
    now = timezone.now()
    before = {"status": worker.status, "is_active": True}
    open_claims = list(ShiftClaim.objects.filter(worker=worker, status=ClaimStatus.ACTIVE, ends_at__gt=now)
                       .order_by("shift_id").values_list("shift_id", "checked_in_at"))
    for shift_id, checked_in_at in open_claims:
        if checked_in_at is not None:
            shift_check_out(worker_id=worker.pk, shift_id=shift_id)
        else:
            shift_release(worker_id=worker.pk, shift_id=shift_id)
    ShiftWaitlistEntry.objects.filter(worker=worker, status=WaitlistStatus.WAITING).update(
        status=WaitlistStatus.LEFT, resolved_at=now)
    pseudonym = worker_pseudonym(worker.pk)
    names = [name for name in {worker.full_name, account.username, account.get_full_name()} if name]
    for path in settings.PERSONAL_DATA_ERASERS:
        import_string(path)(worker=worker, names=names, pseudonym=pseudonym)
    worker.full_name = pseudonym
    worker.save(update_fields=["full_name"])
    account.username, account.email, account.first_name, account.last_name = pseudonym, "", "", ""
    account.is_active = False
    account.set_unusable_password()
    account.save(update_fields=["username", "email", "first_name", "last_name", "is_active", "password"])
    WorkerEvent.objects.create(worker=worker, actor=account, kind="deleted",
                               data={"claims_ended": len(open_claims)})
    audit_record(AuditAction.WORKER_DELETE, actor=account, target=worker, before=before,
                 after={"status": worker.status, "is_active": False, "claims_ended": len(open_claims)})
    return worker

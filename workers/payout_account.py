"""Writes to a worker's payout account fields (Stripe Connect onboarding and `account.updated`).

The payouts app calls these; this module imports nothing from payouts, so the dependency keeps
pointing one way (payouts → workers). Each write also records a `WorkerEvent` (audit trail).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from workers.models import PayoutAccountStatus, Worker, WorkerEvent


def payout_account_attach(*, worker_id: int, stripe_account_id: str, actor=None) -> Worker:
    """Record the worker's connected account and mark onboarding `pending`.

    Locks the worker row. Safe to repeat with the same account id; a worker who already has a
    different account keeps it (the first one wins) and that worker is returned unchanged.
    """
    with transaction.atomic():
        worker = Worker.objects.select_for_update().get(pk=worker_id)
        if worker.stripe_account_id:
            return worker
        previous = worker.payout_account_status
        worker.stripe_account_id = stripe_account_id
        if worker.payout_account_status == PayoutAccountStatus.NONE:
            worker.payout_account_status = PayoutAccountStatus.PENDING
        worker.save(update_fields=["stripe_account_id", "payout_account_status"])
        WorkerEvent.objects.create(
            worker=worker, actor=actor, kind="payout_account_created",
            data={"stripe_account_id": stripe_account_id, "from": previous,
                  "to": worker.payout_account_status},
        )
        return worker


def payout_account_status_set(*, stripe_account_id: str, status: str, reason: str = "",
                              data: dict | None = None) -> Worker | None:
    """Set `payout_account_status` of the worker holding this Stripe account.

    Returns the worker, or None when no worker holds the account (an event for an account we do
    not know). Locks the worker row; writes an audit event only when the status changes.
    """
    if status not in PayoutAccountStatus.values:
        raise ValueError(f"unknown payout account status {status!r}")
    with transaction.atomic():
        worker = Worker.objects.select_for_update().filter(stripe_account_id=stripe_account_id).first()
        if worker is None:
            return None
        previous = worker.payout_account_status
        if previous == status:
            return worker
        worker.payout_account_status = status
        worker.save(update_fields=["payout_account_status"])
        WorkerEvent.objects.create(
            worker=worker, kind="payout_account_status", from_status="", to_status="",
            reason=reason, data={"from": previous, "to": status, "at": timezone.now().isoformat(),
                                 **(data or {})},
        )
        return worker

"""A worker's export section of the payouts app (see workers.privacy). Nothing here is erased on
deletion: the ledger, earnings and payouts stay, so the books balance and reports keep their figures."""

from __future__ import annotations

from typing import Any

from payouts.models import Earning, LedgerAccount, Payout
from workers.models import Worker


def worker_money_export(*, worker: Worker) -> dict[str, Any]:
    """The worker's earnings, payouts and ledger balances, amounts in minor units."""
    def iso(value):
        return None if value is None else value.isoformat()

    return {
        "earnings": [{"id": e.pk, "ticket": e.ticket_id, "kind": e.kind, "amount": e.amount, "currency": e.currency,
                      "status": e.status, "earned_at": iso(e.earned_at), "available_at": iso(e.available_at),
                      "payout": e.payout_id}
                     for e in Earning.objects.filter(worker=worker).order_by("created_at", "pk")],
        "payouts": [{"id": p.pk, "run": p.run_id, "amount": p.amount, "currency": p.currency, "status": p.status,
                     "destination": p.destination, "stripe_transfer_id": p.stripe_transfer_id,
                     "created_at": iso(p.created_at), "paid_at": iso(p.paid_at), "failed_at": iso(p.failed_at),
                     "reversed_amount": p.reversed_amount}
                    for p in Payout.objects.filter(worker=worker).order_by("created_at", "pk")],
        "balances": [{"account": a.kind, "currency": a.currency, "balance": a.balance}
                     for a in LedgerAccount.objects.filter(worker=worker).order_by("currency", "kind")],
    }

"""Reads of the payouts app with their visibility rules."""

from __future__ import annotations

from django.db.models import QuerySet

from payouts.models import AccountKind, Earning, LedgerAccount, Payout, PayoutRun
from payouts.rate_card import rate_card_current
from workers.models import Worker


def balance_for_worker(worker: Worker, currency: str | None = None) -> dict:
    """`{currency, pending, available, in_transit, paid}` from the cached account balances."""
    currency = currency or rate_card_current().currency
    balances = dict(LedgerAccount.objects.filter(worker=worker, currency=currency)
                    .values_list("kind", "balance"))
    return {
        "currency": currency,
        "pending": balances.get(AccountKind.WORKER_PENDING, 0),
        "available": balances.get(AccountKind.WORKER_AVAILABLE, 0),
        "in_transit": balances.get(AccountKind.WORKER_IN_TRANSIT, 0),
        "paid": balances.get(AccountKind.WORKER_PAID, 0),
    }


def earnings_visible_to(user) -> QuerySet[Earning]:
    qs = Earning.objects.select_related("rate_card").order_by("-created_at", "-pk")
    if getattr(user, "is_finance", False):
        return qs
    return qs.filter(worker_id=user.pk)


def payouts_visible_to(user) -> QuerySet[Payout]:
    qs = Payout.objects.order_by("-created_at", "-pk")
    if getattr(user, "is_finance", False):
        return qs
    return qs.filter(worker_id=user.pk)


def payout_runs() -> QuerySet[PayoutRun]:
    return PayoutRun.objects.order_by("-created_at", "-pk")

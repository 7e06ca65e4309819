"""Reconciliation: every payout in our ledger against the transfers Stripe lists, every mismatch named."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import stripe
from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.db.models import Q, Sum

from kernel.api import utc_day_bounds
from payouts.models import (
    AccountKind,
    JournalKind,
    JournalLine,
    JournalTransaction,
    LedgerAccount,
    Payout,
    PayoutStatus,
)
from payouts.stripe_gateway import stripe_client
from reports.formatting import iso_utc

RECONCILIATION_CACHE_KEY = "reports:reconciliation:latest"
# Transfers are created moments after their payout row; listing a day either side of the range
# keeps a payout made at 23:59:59 from looking "missing at Stripe".
_LISTING_MARGIN = dt.timedelta(days=1)


class MismatchKind:
    MISSING_AT_STRIPE = "missing_at_stripe"
    UNKNOWN_TO_US = "unknown_to_us"
    AMOUNT_DIFFERS = "amount_differs"
    CURRENCY_DIFFERS = "currency_differs"
    DESTINATION_DIFFERS = "destination_differs"
    REVERSED_NOT_IN_LEDGER = "reversed_not_in_ledger"
    # The ledger moved money back to available that Stripe never took back (a forged or mistaken
    # `transfer.reversed`): the next run would pay it a second time.
    REVERSED_IN_LEDGER_NOT_AT_STRIPE = "reversed_in_ledger_not_at_stripe"
    FAILED_IN_LEDGER_BUT_AT_STRIPE = "failed_in_ledger_but_at_stripe"
    LEDGER_POSTING_MISSING = "ledger_posting_missing"
    CLEARING_NOT_ZERO = "clearing_not_zero"


def _transfer_payout_id(transfer: dict) -> str:
    metadata = transfer.get("metadata") or {}
    return str(metadata.get("payout_id") or metadata.get("payout") or "")


def _epoch(value: dt.datetime) -> int:
    return int(value.timestamp())


def stripe_transfers(*, start: dt.datetime, end: dt.datetime, page_size: int = 100) -> Iterator[dict]:
    """Every transfer Stripe lists as created in [start, end), through the SDK, auto-paginated (as dicts)."""
    listing = stripe_client().v1.transfers.list(
        params={"limit": page_size, "created": {"gte": _epoch(start), "lt": _epoch(end)}}
    )
    for obj in listing.auto_paging_iter():
        transfer = obj.to_dict()
        # Filter here too: a Stripe-compatible server may ignore `created`.
        if _epoch(start) <= int(transfer.get("created") or 0) < _epoch(end):
            yield transfer


def _stripe_transfer(transfer_id: str) -> dict | None:
    """One transfer by id, or None when Stripe does not know it."""
    try:
        return stripe_client().v1.transfers.retrieve(transfer_id).to_dict()
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        raise


def clearing_balances() -> list[dict]:
    """The Stripe clearing account per currency: the sum of its lines and its cached balance."""
    lines = {
        row["currency"]: row["total"]
        for row in JournalLine.objects.filter(account__kind=AccountKind.STRIPE_CLEARING)
        .order_by().values("currency").annotate(total=Sum("amount"))
    }
    balances = {
        row["currency"]: row["balance"]
        for row in LedgerAccount.objects.filter(kind=AccountKind.STRIPE_CLEARING)
        .order_by().values("currency").annotate(balance=Sum("balance"))
    }
    return [
        {"currency": currency, "lines_total": int(lines.get(currency) or 0),
         "balance": int(balances.get(currency) or 0),
         "ok": not lines.get(currency) and not balances.get(currency)}
        for currency in sorted(set(lines) | set(balances))
    ]


def reconciliation_report(*, day_from: dt.date, day_to: dt.date, page_size: int = 100) -> dict:
    """Every payout of the range in our ledger against the transfers Stripe lists, every mismatch listed.

    Our side: payouts created in the range that reached Stripe or claim to have (a transfer id, or
    status in transit/paid/failed). Stripe's side: transfers created in the range (a day of margin
    either side for matching). Matched by transfer id, else by `metadata.payout_id`. Also checks
    that the Stripe clearing account nets to zero. Read-only: it changes nothing anywhere.
    """
    start, end = utc_day_bounds(day_from, day_to)
    paid_posting = JournalTransaction.objects.filter(payout_id=models.OuterRef("pk"), kind=JournalKind.PAYOUT_PAID)
    ours = list(
        Payout.objects.filter(created_at__gte=start, created_at__lt=end)
        .filter(~Q(stripe_transfer_id="") | Q(status__in=[PayoutStatus.PAID, PayoutStatus.IN_TRANSIT]))
        .annotate(posted=models.Exists(paid_posting))
        .order_by("id")
        .values("id", "worker_id", "amount", "currency", "status", "destination", "stripe_transfer_id",
                "reversed_amount", "run__transfer_group", "posted")
    )
    transfers = {
        t["id"]: t
        for t in stripe_transfers(start=start - _LISTING_MARGIN, end=end + _LISTING_MARGIN, page_size=page_size)
    }
    by_payout_id = {_transfer_payout_id(t): t for t in transfers.values() if _transfer_payout_id(t)}
    known_transfer_ids = set(
        Payout.objects.filter(stripe_transfer_id__in=list(transfers)).values_list("stripe_transfer_id", flat=True)
    )
    known_payout_ids = {
        str(pk) for pk in Payout.objects.filter(
            pk__in=[int(p) for p in by_payout_id if p.isdigit()]
        ).values_list("pk", flat=True)
    }

    mismatches: list[dict] = []

    def flag(kind: str, payout: Mapping[str, Any] | None, transfer: dict | None, detail: str) -> None:
        mismatches.append({
            "kind": kind,
            "payout": payout["id"] if payout else None,
            "worker": payout["worker_id"] if payout else None,
            "stripe_transfer_id": (transfer or {}).get("id") or (payout or {}).get("stripe_transfer_id") or "",
            "ledger_amount": payout["amount"] if payout else None,
            "ledger_currency": payout["currency"] if payout else None,
            "stripe_amount": transfer.get("amount") if transfer else None,
            "stripe_currency": transfer.get("currency") if transfer else None,
            "detail": detail,
        })

    for payout in ours:
        if payout["status"] == PayoutStatus.PAID and not payout["posted"]:
            flag(MismatchKind.LEDGER_POSTING_MISSING, payout, None,
                 f"Payout {payout['id']} is marked paid but the ledger has no payout posting for it.")
        transfer = transfers.get(payout["stripe_transfer_id"]) if payout["stripe_transfer_id"] else None
        transfer = transfer or by_payout_id.get(str(payout["id"]))
        if transfer is None and payout["stripe_transfer_id"]:
            transfer = _stripe_transfer(payout["stripe_transfer_id"])
        if transfer is None:
            if payout["status"] == PayoutStatus.PAID:
                flag(MismatchKind.MISSING_AT_STRIPE, payout, None,
                     f"Payout {payout['id']} is paid in the ledger but Stripe has no such transfer.")
            continue
        if payout["status"] == PayoutStatus.FAILED:
            flag(MismatchKind.FAILED_IN_LEDGER_BUT_AT_STRIPE, payout, transfer,
                 f"Payout {payout['id']} failed in the ledger but Stripe made transfer {transfer['id']}.")
        if transfer.get("amount") != payout["amount"]:
            flag(MismatchKind.AMOUNT_DIFFERS, payout, transfer,
                 f"Payout {payout['id']} is {payout['amount']} in the ledger, {transfer.get('amount')} at Stripe.")
        if (transfer.get("currency") or "").lower() != payout["currency"]:
            flag(MismatchKind.CURRENCY_DIFFERS, payout, transfer,
                 f"Payout {payout['id']} is in {payout['currency']}, the transfer in {transfer.get('currency')}.")
        if payout["destination"] and transfer.get("destination") and transfer["destination"] != payout["destination"]:
            flag(MismatchKind.DESTINATION_DIFFERS, payout, transfer,
                 f"Payout {payout['id']} went to {transfer['destination']}, not {payout['destination']}.")
        reversed_at_stripe = int(transfer.get("amount_reversed") or 0)
        if reversed_at_stripe > payout["reversed_amount"]:
            flag(MismatchKind.REVERSED_NOT_IN_LEDGER, payout, transfer,
                 f"Stripe reversed {reversed_at_stripe} of transfer {transfer['id']}; "
                 f"the ledger shows {payout['reversed_amount']}.")
        elif payout["reversed_amount"] > reversed_at_stripe:
            flag(MismatchKind.REVERSED_IN_LEDGER_NOT_AT_STRIPE, payout, transfer,
                 f"The ledger reversed {payout['reversed_amount']} of payout {payout['id']}; "
                 f"Stripe reversed {reversed_at_stripe} of transfer {transfer['id']}.")

    for transfer in transfers.values():
        created = int(transfer.get("created") or 0)
        if not _epoch(start) <= created < _epoch(end):
            continue
        if transfer["id"] in known_transfer_ids or _transfer_payout_id(transfer) in known_payout_ids:
            continue
        flag(MismatchKind.UNKNOWN_TO_US, None, transfer,
             f"Stripe transfer {transfer['id']} ({transfer.get('amount')} {transfer.get('currency')} to "
             f"{transfer.get('destination')}) matches no payout of ours.")

    clearing = clearing_balances()
    for account in clearing:
        if not account["ok"]:
            mismatches.append({
                "kind": MismatchKind.CLEARING_NOT_ZERO, "payout": None, "worker": None, "stripe_transfer_id": "",
                "ledger_amount": account["lines_total"], "ledger_currency": account["currency"],
                "stripe_amount": None, "stripe_currency": None,
                "detail": f"The Stripe clearing account holds {account['lines_total']} {account['currency']}; "
                          "it must net to zero.",
            })
    counts: dict[str, int] = {}
    for mismatch in mismatches:
        counts[mismatch["kind"]] = counts.get(mismatch["kind"], 0) + 1
    return {
        "from": day_from.isoformat(),
        "to": day_to.isoformat(),
        "checked_at": iso_utc(dt.datetime.now(dt.UTC)),
        "ok": not mismatches,
        "payouts_checked": len(ours),
        "transfers_checked": sum(1 for t in transfers.values() if _epoch(start) <= int(t.get("created") or 0)
                                 < _epoch(end)),
        "mismatch_counts": counts,
        "mismatches": mismatches,
        "clearing": clearing,
    }


def _reconciliation_file() -> Path:
    return settings.VAR_DIR / "reports" / "reconciliation-latest.json"


def reconciliation_store(result: dict) -> None:
    """Keep the latest reconciliation for the finance dashboard's flag.

    In the cache (shared by every process when it is Redis) and in a JSON file under `VAR_DIR`
    (shared by the processes of one host: `make run` has a per-process memory cache).
    """
    cache.set(RECONCILIATION_CACHE_KEY, result, timeout=None)
    path = _reconciliation_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(result), encoding="utf-8")
    partial.replace(path)


def reconciliation_latest() -> dict | None:
    result = cache.get(RECONCILIATION_CACHE_KEY)
    if result is None:
        try:
            result = json.loads(_reconciliation_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    return result

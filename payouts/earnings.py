"""Earnings: case pay, the CSAT bonus and voids (consuming tickets' outbox events), and settlement.

A case is priced once, by `rate_card.case_pay_amount`, whether its `ticket.resolved` event comes
alone from the relay or with a thousand others from `outbox_consume_batch`. Every earning is
unique per (ticket, kind, resolution), so a case is paid once whatever the redelivery.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from kernel.outbox.handlers import batch_handler
from kernel.transactions import retry_on_conflict
from payouts.errors import EarningNotReady
from payouts.ledger import Posting, ledger_accounts_ensure, ledger_post, ledger_post_many, platform_account
from payouts.models import AccountKind, Earning, EarningKind, EarningStatus, JournalKind, RateCard
from payouts.rate_card import case_pay_amount, rate_cards_at
from workers.models import ShiftClaim


@dataclass(frozen=True)
class ResolvedCase:
    """One resolution of a ticket to pay; `multiplier` None means the claim's (else 1)."""

    ticket_id: int
    worker_id: int
    resolved_at: datetime
    resolution_n: int = 1
    multiplier: Decimal | None = None
    claim_id: int | None = None


def _when(value: Any) -> datetime:
    parsed = parse_datetime(value) if value else None
    if parsed is None:
        return timezone.now()
    return parsed.replace(tzinfo=UTC) if timezone.is_naive(parsed) else parsed


def _multiplier(raw: Any) -> Decimal:
    """A rate multiplier as sent ("1.25"); 1 when missing, malformed or not positive."""
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return Decimal(1)
    return value if value.is_finite() and value > 0 else Decimal(1)


@batch_handler
def earnings_on_tickets_resolved(*, events: list[tuple[UUID, dict]]) -> None:
    """Outbox batch handler of `ticket.resolved`: post the case pay of each resolution (pending)."""
    earnings_post_case_pay(cases=[
        ResolvedCase(ticket_id=int(p["ticket_id"]), worker_id=int(p["worker_id"]),
                     resolved_at=_when(p.get("resolved_at")), resolution_n=int(p.get("resolution_n") or 1),
                     multiplier=None if p.get("rate_multiplier") in (None, "") else _multiplier(p["rate_multiplier"]),
                     claim_id=p.get("claim_id"))
        for _event_id, p in events
    ])


def earning_on_ticket_rated(*, event_id: UUID, payload: dict) -> None:
    """Outbox handler of `ticket.rated`: a 5 earns the CSAT bonus of that resolution."""
    if int(payload.get("score") or 0) != 5:
        return
    earning_post_csat_bonus(ticket_id=int(payload["ticket_id"]),
                            resolution_n=int(payload.get("resolution_n") or 1),
                            rated_at=_when(payload.get("rated_at")))


def earning_on_ticket_reopened(*, event_id: UUID, payload: dict) -> None:
    """Outbox handler of `ticket.reopened`: void that resolution's earnings still in their hold."""
    earnings_void_for_reopen(ticket_id=int(payload["ticket_id"]),
                             resolution_n=int(payload.get("resolution_n") or 1),
                             reopened_at=_when(payload.get("reopened_at")))


def earnings_post_case_pay(*, cases: Sequence[ResolvedCase]) -> int:
    """Earn each case's pay (`case_pay_amount` with the rate card in force when it was resolved),
    pending until the card's hold ends, in one transaction.

    A (ticket, resolution) already paid is skipped by the earning's unique constraint. The new
    earnings are posted as one journal transaction per currency: a pending line per worker and
    one case-expense line (key `case-pay:<currency>:<first>-<last earning>:<count>`). Returns how
    many earnings were new; safe to repeat."""
    claim_ids = {case.claim_id for case in cases if case.multiplier is None and case.claim_id}
    claim_rates: dict[int | None, Decimal] = dict(
        ShiftClaim.objects.filter(pk__in=claim_ids).values_list("pk", "rate_multiplier") if claim_ids else {})
    priced = []
    for case, card in zip(cases, rate_cards_at([case.resolved_at for case in cases]), strict=True):
        multiplier = case.multiplier if case.multiplier is not None else _multiplier(claim_rates.get(case.claim_id))
        amount = case_pay_amount(card, multiplier)
        if amount > 0:
            priced.append((case, card, multiplier, amount))
    if not priced:
        return 0
    with transaction.atomic():
        earned = _case_pay_insert(priced)
        postings = []
        for currency in sorted({row[4] for row in earned}):
            group = [row for row in earned if row[4] == currency]
            per_worker: dict[int, int] = defaultdict(int)
            for _pk, worker_id, _ticket_id, amount, _currency in group:
                per_worker[worker_id] += amount
            accounts = ledger_accounts_ensure(worker_ids=per_worker.keys(), currency=currency)
            first, last, one = group[0], group[-1], len(group) == 1
            postings.append(Posting(
                key=f"case-pay:{currency}:{first[0]}-{last[0]}:{len(group)}", kind=JournalKind.CASE_PAY,
                currency=currency,
                lines=[(accounts[(AccountKind.WORKER_PENDING, w)], total) for w, total in sorted(per_worker.items())]
                + [(platform_account(AccountKind.CASE_EXPENSE, currency), -sum(per_worker.values()))],
                memo=f"Case pay, ticket {first[2]}" if one else f"Case pay for {len(group)} resolved cases",
                refs={"first_earning": first[0], "last_earning": last[0], "count": len(group)},
                worker_id=first[1] if len(per_worker) == 1 else None, ticket_id=first[2] if one else None))
        ledger_post_many(postings)
    return len(earned)


def _case_pay_insert(priced: list[tuple[ResolvedCase, RateCard, Decimal, int]]) -> list[tuple]:
    """Insert the priced cases' earnings in one statement; (id, worker, ticket, amount, currency)
    of those that were new, by id. The rows travel as one JSON document: adapting a thousand
    values one by one costs more than the insert."""
    rows = json.dumps([
        {"worker_id": case.worker_id, "ticket_id": case.ticket_id, "amount": amount, "currency": card.currency,
         "rate_card_id": card.pk, "multiplier": str(multiplier), "resolution_n": case.resolution_n,
         "claim_id": case.claim_id, "earned_at": case.resolved_at.isoformat(),
         "available_at": (case.resolved_at + timedelta(hours=card.hold_hours)).isoformat()}
        for case, card, multiplier, amount in priced])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payouts_earning (worker_id, ticket_id, amount, currency, rate_card_id, multiplier,"
            " resolution_n, claim_id, earned_at, available_at, kind, status, created_at)"
            " SELECT *, %s, %s, %s FROM jsonb_to_recordset(%s::jsonb) AS v(worker_id bigint, ticket_id bigint,"
            " amount int, currency varchar, rate_card_id bigint, multiplier numeric, resolution_n int, claim_id bigint,"
            " earned_at timestamptz, available_at timestamptz)"
            " ON CONFLICT (ticket_id, kind, resolution_n) DO NOTHING"
            " RETURNING id, worker_id, ticket_id, amount, currency",
            [EarningKind.CASE_PAY, EarningStatus.PENDING, timezone.now(), rows])
        return sorted(cursor.fetchall())


def earning_post_csat_bonus(*, ticket_id: int, resolution_n: int, rated_at: datetime | None = None) -> Earning | None:
    """Earn the CSAT bonus of a 5-star rating, with the case pay's rate card and hold, earned when
    the customer rated (`rated_at`, from the event; now when an older event has none).

    Raises `EarningNotReady` (the relay retries within a second) when the case pay is not posted yet; posts
    nothing when the case pay was voided. Idempotent: key `csat-bonus:<ticket>:<n>`."""
    with transaction.atomic():
        # Only the earning: locking its rate card too would block every case pay posted on that
        # card at its commit (the foreign-key check), while this waits for the same ledger accounts.
        case = (Earning.objects.select_for_update(of=("self",)).select_related("rate_card")
                .filter(ticket_id=ticket_id, kind=EarningKind.CASE_PAY, resolution_n=resolution_n).first())
        if case is None:
            raise EarningNotReady()
        if case.status == EarningStatus.VOIDED:
            return None
        existing = Earning.objects.filter(ticket_id=ticket_id, kind=EarningKind.CSAT_BONUS,
                                          resolution_n=resolution_n).first()
        amount = case.rate_card.csat_bonus
        if existing is not None or amount <= 0:
            return existing
        accounts = ledger_accounts_ensure(worker_ids=[case.worker_id], currency=case.currency)
        expense = platform_account(AccountKind.CASE_EXPENSE, case.currency)
        bonus = Earning.objects.create(
            worker_id=case.worker_id, ticket_id=ticket_id, kind=EarningKind.CSAT_BONUS, amount=amount,
            currency=case.currency, rate_card=case.rate_card, multiplier=Decimal("1"),
            resolution_n=resolution_n, claim_id=case.claim_id, earned_at=rated_at or timezone.now(),
            available_at=case.available_at,
        )
        ledger_post(key=f"csat-bonus:{ticket_id}:{resolution_n}", kind=JournalKind.CSAT_BONUS,
                    currency=case.currency,
                    lines=[(accounts[(AccountKind.WORKER_PENDING, case.worker_id)], amount), (expense, -amount)],
                    memo=f"CSAT bonus, ticket {ticket_id}", refs={"earning": bonus.pk},
                    worker_id=case.worker_id, ticket_id=ticket_id)
        return bonus


def earnings_void_for_reopen(*, ticket_id: int, resolution_n: int, reopened_at: datetime) -> list[Earning]:
    """Void the case pay and bonus of one resolution that are still pending and within their hold,
    each by a reversing posting (key `void:<ticket>:<kind>:<n>`). Locks the earnings, then the
    accounts. Raises `EarningNotReady` when the case pay is not posted yet. Safe to repeat."""
    with transaction.atomic():
        earnings = list(Earning.objects.select_for_update()
                        .filter(ticket_id=ticket_id, resolution_n=resolution_n).order_by("pk"))
        if not any(e.kind == EarningKind.CASE_PAY for e in earnings):
            raise EarningNotReady()
        to_void = [e for e in earnings if e.status == EarningStatus.PENDING and reopened_at < e.available_at]
        if not to_void:
            return []
        currency = to_void[0].currency
        accounts = ledger_accounts_ensure(worker_ids={e.worker_id for e in to_void}, currency=currency)
        expense = platform_account(AccountKind.CASE_EXPENSE, currency)
        ledger_post_many([
            Posting(key=f"void:{e.ticket_id}:{e.kind}:{e.resolution_n}", kind=JournalKind.VOID,
                    currency=e.currency,
                    lines=[(accounts[(AccountKind.WORKER_PENDING, e.worker_id)], -e.amount), (expense, e.amount)],
                    memo=f"Voided on reopen, ticket {e.ticket_id}", refs={"earning": e.pk},
                    worker_id=e.worker_id, ticket_id=e.ticket_id)
            for e in to_void
        ])
        now = timezone.now()
        Earning.objects.filter(pk__in=[e.pk for e in to_void], status=EarningStatus.PENDING).update(
            status=EarningStatus.VOIDED, voided_at=now)
        for e in to_void:
            e.status, e.voided_at = EarningStatus.VOIDED, now
        return to_void


def _workers_with_due_earnings(now: datetime) -> list[int]:
    """The workers with a pending earning whose hold has passed (over the partial pending index)."""
    return list(Earning.objects.filter(status=EarningStatus.PENDING, available_at__lte=now)
                .order_by("worker_id").values_list("worker_id", flat=True).distinct())


def _earnings_take_due(*, now: datetime, worker_ids: list[int]) -> list[tuple[int, int, int, str]]:
    """Lock the due pending earnings of `worker_ids` (skipping rows another settler holds), flip
    them to available and return (id, worker, amount, currency), ordered by id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payouts_earning SET status = 'available', settled_at = %s WHERE id IN ("
            " SELECT e.id FROM unnest(%s::bigint[]) AS w(id) JOIN payouts_earning e ON e.worker_id = w.id"
            " WHERE e.status = 'pending' AND e.available_at <= %s FOR UPDATE OF e SKIP LOCKED) "
            "RETURNING id, worker_id, amount, currency", [now, worker_ids, now])
        return sorted(cursor.fetchall())


def earnings_settle(*, now: datetime | None = None, workers_per_batch: int = 500) -> int:
    """Move every pending earning whose hold has passed to available. Set-based and grouped by
    worker: each batch is one transaction over `workers_per_batch` workers that locks their due
    earnings (`SKIP LOCKED`, so concurrent settlers split the work), posts one journal transaction
    per currency with a single pending → available line pair per worker, however many cases
    they have, and flips the rows. Safe to run twice at once. Returns how many were settled."""
    now = now or timezone.now()
    settled = 0
    workers = _workers_with_due_earnings(now)
    for start in range(0, len(workers), workers_per_batch):
        settled += _earnings_settle_batch(now=now, worker_ids=workers[start:start + workers_per_batch])
    return settled


@retry_on_conflict
def _earnings_settle_batch(*, now: datetime, worker_ids: list[int]) -> int:
    """One settlement transaction (retried whole when PostgreSQL aborts it for a conflict)."""
    with transaction.atomic():
        rows = _earnings_take_due(now=now, worker_ids=worker_ids)
        if not rows:
            return 0
        by_currency: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for _pk, worker_id, amount, currency in rows:
            by_currency[currency][worker_id] += amount
        # The flipped rows make the posting happen once; the key only has to be unique, and
        # one batch's earning ids are not a contiguous range, so it names them by digest.
        digest = hashlib.blake2b(b"".join(row[0].to_bytes(8, "big") for row in rows), digest_size=8).hexdigest()
        postings = []
        for currency, sums in by_currency.items():
            accounts = ledger_accounts_ensure(worker_ids=sums.keys(), currency=currency)
            lines: list[tuple[int, int]] = []
            for worker_id, total in sorted(sums.items()):
                lines.append((accounts[(AccountKind.WORKER_PENDING, worker_id)], -total))
                lines.append((accounts[(AccountKind.WORKER_AVAILABLE, worker_id)], total))
            postings.append(Posting(
                key=f"settle:{currency}:{len(rows)}:{digest}", kind=JournalKind.SETTLE,
                currency=currency, lines=lines, memo=f"Hold passed for {len(rows)} earnings",
                refs={"first_earning": rows[0][0], "last_earning": rows[-1][0], "count": len(rows),
                      "workers": len(sums)}))
        ledger_post_many(postings)
        return len(rows)



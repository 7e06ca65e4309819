"""Every write of the payouts app: the ledger, earnings, settlement, payout runs, Stripe webhooks.

Locking rules (see docs/ARCHITECTURE.md, "Payouts"):
- Ledger accounts are locked with `select_for_update` in primary-key order by `ledger_post_many`;
  a service that also locks earnings or payouts locks those first (earnings/payout rows, then
  accounts), except the payout run, which locks accounts first and then only touches `available`
  earnings, which no other locker holds.
- Every posting has an idempotency key (unique in the database): repeating a posting posts nothing.
- A Stripe transfer is only ever requested with the payout's own idempotency key, so any number of
  retries, crashed workers or overlapping runs produce at most one transfer per payout.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from uuid import uuid4

import stripe
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, Count, Q, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from payouts import stripe_gateway
from payouts.errors import (
    CurrencyChangeRefused,
    CurrencyMismatch,
    EarningNotReady,
    LedgerError,
    PayoutAccountRefused,
    StripeUnavailable,
    Unbalanced,
)
from payouts.models import (
    WORKER_ACCOUNT_KINDS,
    AccountKind,
    Earning,
    EarningKind,
    EarningStatus,
    JournalKind,
    JournalLine,
    JournalTransaction,
    LedgerAccount,
    Payout,
    PayoutEvent,
    PayoutRun,
    PayoutRunStatus,
    PayoutStatus,
    RateCard,
    RateCardChange,
    StripeEvent,
)
from workers.models import PayoutAccountStatus, Worker
from workers.payout_account import payout_account_attach, payout_account_status_set

logger = logging.getLogger(__name__)

OPEN_PAYOUT_STATUSES = (PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT)
DEFAULT_RATE_CARD = {"currency": "eur", "base_per_case": 500, "csat_bonus": 100, "hold_hours": 72,
                     "minimum_payout": 2000}


def _payouts_setting(name: str, default):
    return getattr(settings, "PAYOUTS", {}).get(name, default)


# --- Rate card --------------------------------------------------------------------------------


def rate_card_current() -> RateCard:
    """The newest rate card; creates version 1 with the defaults if there is none."""
    card = RateCard.objects.order_by("-version").first()
    if card is None:
        RateCard.objects.bulk_create([RateCard(version=1, **DEFAULT_RATE_CARD)], ignore_conflicts=True)
        card = RateCard.objects.order_by("-version").first()
    return card


def rate_card_at(when: datetime) -> RateCard:
    """The rate card in force at `when` (the newest created at or before it)."""
    card = RateCard.objects.filter(created_at__lte=when).order_by("-version").first()
    return card or RateCard.objects.order_by("version").first() or rate_card_current()


def rate_card_update(*, actor, currency: str, base_per_case: int, csat_bonus: int, hold_hours: int,
                     minimum_payout: int, reason: str = "") -> RateCard:
    """Create the next rate card version and its audit row. Locks the newest version's row, so
    concurrent edits get consecutive versions. Refuses a currency change while money is held in
    the current currency."""
    with transaction.atomic():
        rate_card_current()
        RateCard.objects.select_for_update().order_by("-version").first()
        current = RateCard.objects.order_by("-version").first()  # re-read after the lock
        currency = currency.lower()
        if currency != current.currency and LedgerAccount.objects.filter(
            currency=current.currency, worker__isnull=False
        ).exclude(balance=0).exists():
            raise CurrencyChangeRefused()
        values = {"currency": currency, "base_per_case": base_per_case, "csat_bonus": csat_bonus,
                  "hold_hours": hold_hours, "minimum_payout": minimum_payout}
        card = RateCard.objects.create(version=current.version + 1, created_by=actor, **values)
        changes = {name: [getattr(current, name), value] for name, value in values.items()
                   if getattr(current, name) != value}
        RateCardChange.objects.create(rate_card=card, previous=current, actor=actor, changes=changes,
                                      reason=reason)
        return card


def case_pay_amount(base_per_case: int, multiplier: Decimal) -> int:
    """`base × multiplier`, rounded half-up to the minor unit."""
    return int((Decimal(base_per_case) * Decimal(multiplier)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- Ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posting:
    """A journal transaction to post: `lines` are (account id, signed amount) in `currency`."""

    key: str
    kind: str
    currency: str
    lines: Sequence[tuple[int, int]]
    memo: str = ""
    refs: dict = field(default_factory=dict)
    worker_id: int | None = None
    ticket_id: int | None = None
    payout_id: int | None = None


def ledger_accounts_ensure(*, worker_ids: Iterable[int], currency: str) -> dict[tuple[str, int], int]:
    """The ids of the four worker accounts of each worker in `currency`, created if missing.

    Returns `{(kind, worker_id): account_id}`. Safe under concurrency (insert … on conflict do nothing).
    """
    worker_ids = sorted(set(worker_ids))
    found: dict[tuple[str, int], int] = {}
    for start in range(0, len(worker_ids), 2000):
        chunk = worker_ids[start:start + 2000]
        found.update(_worker_accounts(chunk, currency))
        missing = [LedgerAccount(kind=kind, worker_id=worker, currency=currency)
                   for worker in chunk for kind in WORKER_ACCOUNT_KINDS if (kind, worker) not in found]
        if missing:
            LedgerAccount.objects.bulk_create(missing, ignore_conflicts=True)
            found.update(_worker_accounts(chunk, currency))
    return found


def _worker_accounts(worker_ids: list[int], currency: str) -> dict[tuple[str, int], int]:
    # On PostgreSQL one array parameter, joined rather than `= ANY(...)`: on a table whose
    # statistics lag (accounts created by this very run) the planner may scan it sequentially, and
    # `= ANY` then compares every row with every id.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT a.kind, a.worker_id, a.id FROM unnest(%s::bigint[]) AS w(id) "
                           "JOIN payouts_ledgeraccount a ON a.worker_id = w.id AND a.currency = %s",
                           [worker_ids, currency])
            rows = cursor.fetchall()
    else:
        rows = LedgerAccount.objects.filter(worker_id__in=worker_ids, currency=currency).values_list(
            "kind", "worker_id", "pk")
    return {(kind, worker): pk for kind, worker, pk in rows}


def platform_account(kind: str, currency: str) -> int:
    """The id of a platform account (case expense, Stripe clearing, adjustments), created if missing."""
    pk = LedgerAccount.objects.filter(kind=kind, worker__isnull=True, currency=currency).values_list(
        "pk", flat=True).first()
    if pk is None:
        LedgerAccount.objects.bulk_create([LedgerAccount(kind=kind, currency=currency)], ignore_conflicts=True)
        pk = LedgerAccount.objects.filter(kind=kind, worker__isnull=True, currency=currency).values_list(
            "pk", flat=True).get()
    return pk


def _validate_posting(posting: Posting) -> None:
    if len(posting.lines) < 2:
        raise Unbalanced("A posting needs at least two lines.")
    for _account, amount in posting.lines:
        if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
            raise LedgerError("Line amounts are non-zero integers of minor units.")
    if sum(amount for _account, amount in posting.lines) != 0:
        raise Unbalanced()
    if not (len(posting.currency) == 3 and posting.currency.isalpha() and posting.currency.islower()):
        raise CurrencyMismatch("The currency must be a lowercase ISO code.")


def _apply_balance_deltas(deltas: dict[int, int]) -> None:
    items = [(pk, delta) for pk, delta in sorted(deltas.items()) if delta]
    if not items:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE payouts_ledgeraccount AS a SET balance = a.balance + v.delta "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, delta) WHERE a.id = v.id",
                [[pk for pk, _ in items], [delta for _, delta in items]])
    else:
        from django.db.models import F

        for pk, delta in items:
            LedgerAccount.objects.filter(pk=pk).update(balance=F("balance") + delta)


def _accounts_lock(account_ids: list[int]) -> dict[int, str]:
    """Lock the accounts in primary-key order (so concurrent posters cannot deadlock); their currencies."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT a.id, a.currency FROM unnest(%s::bigint[]) AS x(id) "
                           "JOIN payouts_ledgeraccount a ON a.id = x.id ORDER BY a.id FOR UPDATE OF a",
                           [account_ids])
            return dict(cursor.fetchall())
    currencies: dict[int, str] = {}
    for start in range(0, len(account_ids), 5000):
        currencies.update(LedgerAccount.objects.select_for_update().filter(pk__in=account_ids[start:start + 5000])
                          .order_by("pk").values_list("pk", "currency"))
    return currencies


def _journal_lines_insert(lines: list[tuple[int, int, int, str]]) -> None:
    """Insert (transaction, account, amount, currency) lines; on PostgreSQL in one statement from
    arrays, without building a model instance per line (a settlement batch has thousands)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO payouts_journalline (transaction_id, account_id, amount, currency) "
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[])",
                [[line[0] for line in lines], [line[1] for line in lines], [line[2] for line in lines],
                 [line[3] for line in lines]])
        return
    JournalLine.objects.bulk_create([JournalLine(transaction_id=txn, account_id=account, amount=amount,
                                                 currency=currency) for txn, account, amount, currency in lines],
                                    batch_size=5000)


def ledger_post_many(postings: Sequence[Posting]) -> list[bool]:
    """Post journal transactions in one database transaction; return which were new.

    Validates each (non-zero integer lines summing to zero, one currency matching every
    account's), locks every account involved in primary-key order, skips postings whose key
    already exists (so repeating is harmless), inserts transactions and lines, and updates the
    cached balances in the same transaction. PostgreSQL re-checks the balance at commit.
    """
    if not postings:
        return []
    for posting in postings:
        _validate_posting(posting)
    keys = [posting.key for posting in postings]
    if len(set(keys)) != len(keys):
        raise LedgerError("Two postings in one batch share an idempotency key.")
    with transaction.atomic():
        account_ids = sorted({account for posting in postings for account, _ in posting.lines})
        currencies = _accounts_lock(account_ids)
        for posting in postings:
            for account, _amount in posting.lines:
                if account not in currencies:
                    raise LedgerError(f"No ledger account {account}.")
                if currencies[account] != posting.currency:
                    raise CurrencyMismatch()
        existing: set[str] = set()
        for start in range(0, len(keys), 5000):
            existing.update(JournalTransaction.objects.filter(idempotency_key__in=keys[start:start + 5000])
                            .values_list("idempotency_key", flat=True))
        todo = [posting for posting in postings if posting.key not in existing]
        if todo:
            created = JournalTransaction.objects.bulk_create(
                [JournalTransaction(idempotency_key=p.key, kind=p.kind, memo=p.memo[:500], refs=p.refs,
                                    worker_id=p.worker_id, ticket_id=p.ticket_id, payout_id=p.payout_id)
                 for p in todo],
                batch_size=2000,
            )
            lines: list[tuple[int, int, int, str]] = []
            deltas: dict[int, int] = defaultdict(int)
            for txn, posting in zip(created, todo, strict=True):
                for account, amount in posting.lines:
                    lines.append((txn.pk, account, amount, posting.currency))
                    deltas[account] += amount
            _journal_lines_insert(lines)
            _apply_balance_deltas(deltas)
    return [posting.key not in existing for posting in postings]


def ledger_post(*, key: str, kind: str, currency: str, lines: Sequence[tuple[int, int]], memo: str = "",
                refs: dict | None = None, worker_id: int | None = None, ticket_id: int | None = None,
                payout_id: int | None = None) -> bool:
    """Post one journal transaction (see `ledger_post_many`). Returns False if the key was posted."""
    return ledger_post_many([Posting(key=key, kind=kind, currency=currency, lines=list(lines), memo=memo,
                                     refs=refs or {}, worker_id=worker_id, ticket_id=ticket_id,
                                     payout_id=payout_id)])[0]


def ledger_adjust(*, worker_id: int, amount: int, key: str, reason: str, currency: str | None = None) -> bool:
    """A manual or quality adjustment of a worker's available balance (positive or negative),
    against the platform's adjustments account. Idempotent by `key`."""
    currency = currency or rate_card_current().currency
    with transaction.atomic():
        accounts = ledger_accounts_ensure(worker_ids=[worker_id], currency=currency)
        adjustments = platform_account(AccountKind.ADJUSTMENTS, currency)
        return ledger_post(key=f"adjustment:{key}", kind=JournalKind.ADJUSTMENT, currency=currency,
                           lines=[(accounts[(AccountKind.WORKER_AVAILABLE, worker_id)], amount),
                                  (adjustments, -amount)],
                           memo=reason, worker_id=worker_id)


@dataclass
class LedgerReport:
    accounts_checked: int = 0
    lines_checked: int = 0
    balance_mismatches: list[tuple[int, int, int]] = field(default_factory=list)  # account, cached, lines
    unbalanced_transactions: list[tuple[int, str, int]] = field(default_factory=list)
    currency_mismatches: list[int] = field(default_factory=list)  # line ids
    earning_mismatches: list[tuple[int, str, int, int]] = field(default_factory=list)  # worker, kind, ledger, rows

    @property
    def ok(self) -> bool:
        return not (self.balance_mismatches or self.unbalanced_transactions or self.currency_mismatches
                    or self.earning_mismatches)


def ledger_verify() -> LedgerReport:
    """Prove the ledger holds together: cached balances equal the sum of their lines, every
    transaction balances per currency, lines match their account's currency, and the worker
    `pending` and `in_transit` balances equal the pending earnings and open payouts behind them.
    Read-only; aggregates in SQL."""
    report = LedgerReport()
    report.accounts_checked = LedgerAccount.objects.count()
    report.lines_checked = JournalLine.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, a.balance, COALESCE(l.total, 0) FROM payouts_ledgeraccount a "
            "LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM payouts_journalline GROUP BY account_id) l "
            "ON l.account_id = a.id WHERE a.balance <> COALESCE(l.total, 0) ORDER BY a.id")
        report.balance_mismatches = [tuple(row) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT transaction_id, currency, SUM(amount) FROM payouts_journalline "
            "GROUP BY transaction_id, currency HAVING SUM(amount) <> 0 ORDER BY transaction_id")
        report.unbalanced_transactions = [tuple(row) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT l.id FROM payouts_journalline l JOIN payouts_ledgeraccount a ON a.id = l.account_id "
            "WHERE a.currency <> l.currency ORDER BY l.id")
        report.currency_mismatches = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT a.worker_id, a.kind, a.balance, COALESCE(e.total, 0) FROM payouts_ledgeraccount a "
            "LEFT JOIN (SELECT worker_id, currency, SUM(amount) AS total FROM payouts_earning "
            "WHERE status = 'pending' GROUP BY worker_id, currency) e "
            "ON e.worker_id = a.worker_id AND e.currency = a.currency "
            "WHERE a.kind = 'worker_pending' AND a.balance <> COALESCE(e.total, 0) "
            "UNION ALL "
            "SELECT a.worker_id, a.kind, a.balance, COALESCE(p.total, 0) FROM payouts_ledgeraccount a "
            "LEFT JOIN (SELECT worker_id, currency, SUM(amount) AS total FROM payouts_payout "
            "WHERE status IN ('pending', 'in_transit') GROUP BY worker_id, currency) p "
            "ON p.worker_id = a.worker_id AND p.currency = a.currency "
            "WHERE a.kind = 'worker_in_transit' AND a.balance <> COALESCE(p.total, 0)")
        report.earning_mismatches = [tuple(row) for row in cursor.fetchall()]
    return report


# --- Earnings (outbox handlers) ---------------------------------------------------------------


def _when(value) -> datetime:
    if isinstance(value, datetime):
        return value
    parsed = parse_datetime(value) if value else None
    if parsed is None:
        return timezone.now()
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _multiplier(payload: dict) -> Decimal:
    raw = payload.get("rate_multiplier")
    if raw in (None, "") and payload.get("claim_id"):
        from workers.models import ShiftClaim

        raw = ShiftClaim.objects.filter(pk=payload["claim_id"]).values_list("rate_multiplier", flat=True).first()
    try:
        value = Decimal(str(raw)) if raw not in (None, "") else Decimal("1")
    except InvalidOperation:
        value = Decimal("1")
    return value if value > 0 else Decimal("1")


def earning_on_ticket_resolved(*, event_id, payload: dict) -> None:
    """Outbox handler of `ticket.resolved`: post the case pay (pending)."""
    earning_post_case_pay(
        ticket_id=int(payload["ticket_id"]), worker_id=int(payload["worker_id"]),
        resolution_n=int(payload.get("resolution_n") or 1), multiplier=_multiplier(payload),
        resolved_at=_when(payload.get("resolved_at")), claim_id=payload.get("claim_id"),
    )


def earning_on_ticket_rated(*, event_id, payload: dict) -> None:
    """Outbox handler of `ticket.rated`: a 5 earns the CSAT bonus of that resolution."""
    if int(payload.get("score") or 0) != 5:
        return
    earning_post_csat_bonus(ticket_id=int(payload["ticket_id"]),
                            resolution_n=int(payload.get("resolution_n") or 1))


def earning_on_ticket_reopened(*, event_id, payload: dict) -> None:
    """Outbox handler of `ticket.reopened`: void that resolution's earnings still in their hold."""
    earnings_void_for_reopen(ticket_id=int(payload["ticket_id"]),
                             resolution_n=int(payload.get("resolution_n") or 1),
                             reopened_at=_when(payload.get("reopened_at")))


def earning_post_case_pay(*, ticket_id: int, worker_id: int, resolution_n: int, multiplier: Decimal,
                          resolved_at: datetime, claim_id: int | None = None) -> Earning | None:
    """Earn `base_per_case × multiplier` (rate card in force at `resolved_at`), pending until the
    hold ends. Idempotent: one case pay per (ticket, resolution), key `case-pay:<ticket>:<n>`."""
    card = rate_card_at(resolved_at)
    amount = case_pay_amount(card.base_per_case, multiplier)
    with transaction.atomic():
        existing = Earning.objects.filter(ticket_id=ticket_id, kind=EarningKind.CASE_PAY,
                                          resolution_n=resolution_n).first()
        if existing is not None or amount <= 0:
            return existing
        accounts = ledger_accounts_ensure(worker_ids=[worker_id], currency=card.currency)
        expense = platform_account(AccountKind.CASE_EXPENSE, card.currency)
        earning = Earning.objects.create(
            worker_id=worker_id, ticket_id=ticket_id, kind=EarningKind.CASE_PAY, amount=amount,
            currency=card.currency, rate_card=card, multiplier=multiplier, resolution_n=resolution_n,
            claim_id=claim_id, earned_at=resolved_at,
            available_at=resolved_at + timedelta(hours=card.hold_hours),
        )
        ledger_post(key=f"case-pay:{ticket_id}:{resolution_n}", kind=JournalKind.CASE_PAY,
                    currency=card.currency,
                    lines=[(accounts[(AccountKind.WORKER_PENDING, worker_id)], amount), (expense, -amount)],
                    memo=f"Case pay, ticket {ticket_id}", refs={"earning": earning.pk},
                    worker_id=worker_id, ticket_id=ticket_id)
        return earning


RESOLVED_CONSUMER = "payouts.services.earning_on_ticket_resolved"


def earnings_post_resolved_batch(*, limit: int = 500) -> int:
    """Consume up to `limit` undelivered `ticket.resolved` outbox events in one transaction:
    the set-based twin of `earning_on_ticket_resolved` for bursts (one task per 500 cases, not
    one per case). Safe beside the per-event relay and beside itself: events are taken with
    `SKIP LOCKED`; when this is the topic's only consumer they are marked delivered in the same
    statement, otherwise claimed by inserting their `ConsumedEvent` rows (`ON CONFLICT DO
    NOTHING`) for the relay to finish. Either way a (ticket, resolution) earns once: the Earning
    insert skips pairs already paid. Returns how many events it took."""
    from marketplace.outbox.models import OutboxEvent

    if connection.vendor != "postgresql":
        from marketplace.outbox.services import outbox_deliver

        ids = list(OutboxEvent.objects.filter(topic="ticket.resolved", delivered_at__isnull=True)
                   .order_by("created_at").values_list("pk", flat=True)[:limit])
        for event_id in ids:
            outbox_deliver(event_id=event_id)
        return len(ids)

    handlers = list(getattr(settings, "OUTBOX_HANDLERS", {}).get("ticket.resolved", []))
    sole_consumer = handlers == [RESOLVED_CONSUMER]
    with transaction.atomic(), connection.cursor() as cursor:
        if sole_consumer:
            # Taking an event and marking it delivered is one statement: nobody else consumes it,
            # and the Earning row's uniqueness already makes a case pay happen once, also beside
            # the per-event relay.
            cursor.execute(
                "UPDATE outbox_outboxevent SET delivered_at = now() WHERE id IN ("
                " SELECT id FROM outbox_outboxevent WHERE topic = 'ticket.resolved' AND delivered_at IS NULL"
                " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id", [limit])
            events = [row[0] for row in cursor.fetchall()]
            claimed = set(events)
        else:
            cursor.execute(
                "SELECT id FROM outbox_outboxevent WHERE topic = 'ticket.resolved' AND delivered_at IS NULL"
                " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED", [limit])
            events = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "INSERT INTO outbox_consumedevent (event_id, consumer, consumed_at) "
                "SELECT unnest(%s::uuid[]), %s, now() ON CONFLICT DO NOTHING RETURNING event_id",
                [events, RESOLVED_CONSUMER])
            claimed = {row[0] for row in cursor.fetchall()}
        if not claimed:
            return len(events)
        rate_card_current()  # there is always a card
        # Price and insert the earnings in SQL, straight from the event payloads: the rate card
        # in force at `resolved_at` (else the oldest), the claim's multiplier, round half-up
        # (PostgreSQL rounds numeric halves away from zero). A (ticket, resolution) already paid
        # is skipped by the unique constraint.
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH ev AS (
                    SELECT (e.payload->>'ticket_id')::bigint AS ticket_id,
                           (e.payload->>'worker_id')::bigint AS worker_id,
                           COALESCE(NULLIF(e.payload->>'resolution_n', '')::int, 1) AS n,
                           NULLIF(e.payload->>'claim_id', '')::bigint AS claim_id,
                           COALESCE(NULLIF(e.payload->>'resolved_at', '')::timestamptz, now()) AS resolved_at,
                           NULLIF(e.payload->>'rate_multiplier', '')::numeric AS multiplier
                      FROM outbox_outboxevent e WHERE e.id = ANY(%s::uuid[])
                ), oldest AS (
                    SELECT id, currency, base_per_case, hold_hours FROM payouts_ratecard ORDER BY version LIMIT 1
                ), priced AS (
                    SELECT ev.ticket_id, ev.worker_id, ev.n, ev.claim_id, ev.resolved_at,
                           COALESCE(rc.id, o.id) AS rate_card_id, COALESCE(rc.currency, o.currency) AS currency,
                           COALESCE(rc.base_per_case, o.base_per_case) AS base,
                           COALESCE(rc.hold_hours, o.hold_hours) AS hold_hours,
                           CASE WHEN COALESCE(ev.multiplier, c.rate_multiplier, 1) > 0
                                THEN COALESCE(ev.multiplier, c.rate_multiplier, 1) ELSE 1 END AS multiplier
                      FROM ev
                      CROSS JOIN oldest o
                      LEFT JOIN workers_shiftclaim c ON c.id = ev.claim_id
                      LEFT JOIN LATERAL (
                          SELECT id, currency, base_per_case, hold_hours FROM payouts_ratecard
                           WHERE created_at <= ev.resolved_at ORDER BY version DESC LIMIT 1) rc ON true
                )
                INSERT INTO payouts_earning (worker_id, ticket_id, kind, amount, currency, status, rate_card_id,
                                             multiplier, resolution_n, claim_id, earned_at, available_at, created_at)
                SELECT worker_id, ticket_id, 'case_pay', round(base * multiplier)::int, currency, 'pending',
                       rate_card_id, multiplier, n, claim_id, resolved_at,
                       resolved_at + make_interval(hours => hold_hours), now()
                  FROM priced WHERE round(base * multiplier) > 0
                ON CONFLICT (ticket_id, kind, resolution_n) DO NOTHING
                RETURNING id, worker_id, amount, currency
                """,
                [list(claimed)])
            rows = cursor.fetchall()
        # One journal transaction per batch and currency: a pending line per worker and one
        # expense line. Each case is still earned once: its Earning row is unique per
        # (ticket, kind, resolution) and its event is claimed once; the earnings name the batch.
        postings: list[Posting] = []
        for currency in {row[3] for row in rows}:
            group = [row for row in rows if row[3] == currency]
            per_worker: dict[int, int] = defaultdict(int)
            for _pk, worker_id, amount, _currency in group:
                per_worker[worker_id] += amount
            accounts = ledger_accounts_ensure(worker_ids=per_worker.keys(), currency=currency)
            expense = platform_account(AccountKind.CASE_EXPENSE, currency)
            first, last = min(row[0] for row in group), max(row[0] for row in group)
            postings.append(Posting(
                key=f"case-pay-batch:{currency}:{first}-{last}:{len(group)}", kind=JournalKind.CASE_PAY,
                currency=currency,
                lines=[(accounts[(AccountKind.WORKER_PENDING, w)], total) for w, total in sorted(per_worker.items())]
                + [(expense, -sum(per_worker.values()))],
                memo=f"Case pay for {len(group)} resolved cases",
                refs={"first_earning": first, "last_earning": last, "count": len(group)}))
        ledger_post_many(postings)
        return len(events)


def earnings_post_resolved_backlog(*, batch: int = 1000, max_seconds: float = 50) -> int:
    """Drain the backlog of `ticket.resolved` events in batches (the beat task)."""
    deadline = time.monotonic() + max_seconds
    total = 0
    while time.monotonic() < deadline:
        taken = earnings_post_resolved_batch(limit=batch)
        total += taken
        if taken < batch:
            break
    return total


def earning_post_csat_bonus(*, ticket_id: int, resolution_n: int) -> Earning | None:
    """Earn the CSAT bonus of a 5-star rating, with the case pay's rate card and hold.

    Raises `EarningNotReady` (so the outbox retries) when the case pay is not posted yet; posts
    nothing when the case pay was voided. Idempotent: key `csat-bonus:<ticket>:<n>`."""
    with transaction.atomic():
        case = (Earning.objects.select_for_update().select_related("rate_card")
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
            resolution_n=resolution_n, claim_id=case.claim_id, earned_at=timezone.now(),
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
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE payouts_earning SET status = 'available', settled_at = %s WHERE id IN ("
                " SELECT e.id FROM unnest(%s::bigint[]) AS w(id) JOIN payouts_earning e ON e.worker_id = w.id"
                " WHERE e.status = 'pending' AND e.available_at <= %s FOR UPDATE OF e SKIP LOCKED) "
                "RETURNING id, worker_id, amount, currency", [now, worker_ids, now])
            return sorted(cursor.fetchall())
    rows = list(Earning.objects.filter(status=EarningStatus.PENDING, available_at__lte=now, worker_id__in=worker_ids)
                .order_by("pk").values_list("pk", "worker_id", "amount", "currency"))
    Earning.objects.filter(pk__in=[row[0] for row in rows]).update(status=EarningStatus.AVAILABLE, settled_at=now)
    return rows


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
        with transaction.atomic():
            rows = _earnings_take_due(now=now, worker_ids=workers[start:start + workers_per_batch])
            if not rows:
                continue
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
        settled += len(rows)
    return settled


# --- Payout runs ------------------------------------------------------------------------------


def payout_run_create(*, actor=None, trigger: str = "manual") -> PayoutRun:
    """A queued run with its own Stripe `transfer_group`."""
    with transaction.atomic():
        card = rate_card_current()
        run = PayoutRun.objects.create(trigger=trigger, started_by=actor, currency=card.currency)
        run.transfer_group = f"shiftline-run-{run.pk}"
        run.save(update_fields=["transfer_group"])
        return run


def payout_run_start(*, actor=None, trigger: str = "manual") -> PayoutRun:
    """Create a run and execute it in Celery once this transaction commits."""
    from payouts.tasks import payout_run_execute_task

    with transaction.atomic():
        run = payout_run_create(actor=actor, trigger=trigger)
        transaction.on_commit(lambda: payout_run_execute_task.delay(run.pk))
    return run


def payout_run_execute(*, run_id: int) -> PayoutRun:
    """Execute a run: create the payouts (money to in_transit), send their transfers, finish.

    Safe to repeat and to run concurrently with other runs or with itself (a redelivered task
    after a crash): payout creation locks each worker's accounts and there is at most one open
    payout per worker; every transfer is requested with the payout's own idempotency key.
    """
    with transaction.atomic():
        run = PayoutRun.objects.select_for_update().get(pk=run_id)
        if run.status in (PayoutRunStatus.COMPLETED, PayoutRunStatus.FAILED):
            return run
        if run.status == PayoutRunStatus.QUEUED:
            run.status = PayoutRunStatus.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
    try:
        payouts_create_for_run(run=run)
        payouts_send(payout_ids=list(Payout.objects.filter(run=run, status__in=OPEN_PAYOUT_STATUSES)
                                     .order_by("pk").values_list("pk", flat=True)))
    except Exception as exc:
        PayoutRun.objects.filter(pk=run.pk).update(error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return payout_run_finalize(run_id=run.pk)


def payout_run_finalize(*, run_id: int) -> PayoutRun:
    """Recount a run from its payouts; completed once none is open. Safe to repeat."""
    with transaction.atomic():
        run = PayoutRun.objects.select_for_update().get(pk=run_id)
        stats = payout_run_stats(run)
        run.payouts_count, run.total = stats["payouts_count"], stats["total"]
        run.paid_count, run.failed_count = stats["paid_count"], stats["failed_count"]
        fields = ["payouts_count", "total", "paid_count", "failed_count"]
        if stats["open_count"] == 0 and run.status == PayoutRunStatus.RUNNING:
            run.status, run.finished_at = PayoutRunStatus.COMPLETED, timezone.now()
            fields += ["status", "finished_at"]
        run.save(update_fields=fields)
        return run


def payout_run_stats(run: PayoutRun) -> dict:
    agg = Payout.objects.filter(run=run).aggregate(
        payouts_count=Count("pk"), total=Sum("amount"),
        paid_count=Count("pk", filter=Q(status=PayoutStatus.PAID)),
        failed_count=Count("pk", filter=Q(status=PayoutStatus.FAILED)),
        open_count=Count("pk", filter=Q(status__in=OPEN_PAYOUT_STATUSES)),
        in_transit_count=Count("pk", filter=Q(status=PayoutStatus.IN_TRANSIT)),
    )
    agg["total"] = agg["total"] or 0
    return agg


def payouts_create_for_run(*, run: PayoutRun, chunk_size: int = 250) -> int:
    """Create a payout for every worker whose available balance reaches the minimum and whose
    Stripe account is ready, moving that balance to in_transit. Works in chunks of workers, one
    transaction each. Returns the number of payouts created."""
    card = rate_card_current()
    minimum = max(card.minimum_payout, 1)
    worker_ids = list(
        LedgerAccount.objects.filter(kind=AccountKind.WORKER_AVAILABLE, currency=card.currency,
                                     balance__gte=minimum,
                                     worker__payout_account_status=PayoutAccountStatus.READY)
        .exclude(worker__stripe_account_id="").order_by("worker_id").values_list("worker_id", flat=True)
    )
    created = 0
    for start in range(0, len(worker_ids), chunk_size):
        created += _payouts_create_chunk(run=run, currency=card.currency, minimum=minimum,
                                         worker_ids=worker_ids[start:start + chunk_size])
    return created


def _payouts_create_chunk(*, run: PayoutRun, currency: str, minimum: int, worker_ids: list[int]) -> int:
    with transaction.atomic():
        accounts = ledger_accounts_ensure(worker_ids=worker_ids, currency=currency)
        lock_ids = sorted(accounts[(kind, w)] for w in worker_ids
                          for kind in (AccountKind.WORKER_AVAILABLE, AccountKind.WORKER_IN_TRANSIT))
        balances = dict(LedgerAccount.objects.select_for_update().filter(pk__in=lock_ids).order_by("pk")
                        .values_list("pk", "balance"))
        ready = dict(Worker.objects.filter(pk__in=worker_ids, payout_account_status=PayoutAccountStatus.READY)
                     .exclude(stripe_account_id="").values_list("pk", "stripe_account_id"))
        busy = set(Payout.objects.filter(worker_id__in=worker_ids)
                   .filter(Q(status__in=OPEN_PAYOUT_STATUSES) | Q(run=run)).values_list("worker_id", flat=True))
        chosen = [(w, balances[accounts[(AccountKind.WORKER_AVAILABLE, w)]]) for w in worker_ids
                  if w in ready and w not in busy and balances[accounts[(AccountKind.WORKER_AVAILABLE, w)]] >= minimum]
        if not chosen:
            return 0
        payouts = Payout.objects.bulk_create([
            Payout(run=run, worker_id=w, amount=amount, currency=currency, status=PayoutStatus.PENDING,
                   destination=ready[w], idempotency_key=f"provisional-{uuid4()}")
            for w, amount in chosen
        ])
        ids = [p.pk for p in payouts]
        # The Stripe idempotency key is derived from the payout id.
        Payout.objects.filter(pk__in=ids).update(
            idempotency_key=Concat(Value("shiftline-payout-"), Cast("pk", CharField())))
        ledger_post_many([
            Posting(key=f"payout-start:{p.pk}", kind=JournalKind.PAYOUT_START, currency=currency,
                    lines=[(accounts[(AccountKind.WORKER_AVAILABLE, p.worker_id)], -p.amount),
                           (accounts[(AccountKind.WORKER_IN_TRANSIT, p.worker_id)], p.amount)],
                    memo=f"Payout {p.pk} (run {run.pk})", worker_id=p.worker_id, payout_id=p.pk,
                    refs={"run": run.pk})
            for p in payouts
        ])
        _earnings_attach_to_payouts(payouts)
        PayoutEvent.objects.bulk_create([PayoutEvent(payout=p, kind="created", data={"run": run.pk})
                                         for p in payouts])
        return len(payouts)


@dataclass
class _Send:
    """One transfer to request: a snapshot of the payout taken when it was marked in_transit."""

    payout_id: int
    worker_id: int
    run_id: int
    amount: int
    currency: str
    destination: str
    idempotency_key: str
    transfer_group: str
    transfer_id: str = ""
    error: stripe.StripeError | None = None


class _Pacer:
    """Spaces requests at least `1/rate` seconds apart across the sender threads (0: no pacing).

    Stripe answers 429 beyond its write rate limit; sending just under it keeps the retries (and
    payouts left to the retry sweep after `MAX_ATTEMPTS_PER_RUN`) for real trouble."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


def _earnings_attach_to_payouts(payouts: list[Payout]) -> None:
    """Available earnings of each payout's worker → in_payout, pointing at the payout."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE payouts_earning AS e SET status = 'in_payout', payout_id = p.id FROM payouts_payout AS p "
                "WHERE p.id = ANY(%s) AND e.worker_id = p.worker_id AND e.currency = p.currency "
                "AND e.status = 'available'", [[p.pk for p in payouts]])
        return
    for payout in payouts:
        Earning.objects.filter(worker_id=payout.worker_id, currency=payout.currency,
                               status=EarningStatus.AVAILABLE).update(status=EarningStatus.IN_PAYOUT, payout=payout)


def payouts_send(*, payout_ids: list[int]) -> dict[str, int]:
    """Send the transfers of these payouts, pipelined in chunks of `PAYOUTS["SEND_CHUNK"]`.

    For each chunk: one transaction marks its open payouts in_transit (attempts + 1); the
    requests go out from `SEND_CONCURRENCY` threads (HTTP only, no database) while the main
    thread records the previous chunk's answers in one transaction: accepted → paid, refused for
    good → failed (money back to available). Timeouts, 5xx and 429 go back in the queue with
    exponential backoff and jitter, always with the payout's own idempotency key; after
    `MAX_ATTEMPTS_PER_RUN` a payout stays in_transit for the retry sweep. Safe to run twice at
    once or after a crash: a payout another sender settled is skipped, and a repeated request is
    replayed by Stripe, never executed twice.
    """
    chunk = int(_payouts_setting("SEND_CHUNK", 100))
    max_attempts = int(_payouts_setting("MAX_ATTEMPTS_PER_RUN", 8))
    base = float(_payouts_setting("BACKOFF_BASE", 0.2))
    cap = float(_payouts_setting("BACKOFF_CAP", 5))
    concurrency = max(1, int(_payouts_setting("SEND_CONCURRENCY", 8)))
    pacer = _Pacer(float(_payouts_setting("SEND_RATE", 0)))
    outcomes: dict[str, int] = defaultdict(int)
    queue: list[tuple[float, int, int]] = [(0.0, 0, pk) for pk in payout_ids]  # (not before, tries, id)
    in_flight: tuple[list[_Send], list] | None = None
    tries: dict[int, int] = {}

    def record(batch: tuple[list[_Send], list]) -> None:
        sends, futures = batch
        for future in futures:
            future.result()
        for send, outcome in _payouts_record_answers(sends):
            if outcome != "retry":
                outcomes[outcome] += 1
                continue
            n = tries[send.payout_id]
            if n >= max_attempts:
                Payout.objects.filter(pk=send.payout_id, status__in=OPEN_PAYOUT_STATUSES).update(
                    next_attempt_at=timezone.now() + timedelta(minutes=2))
                outcomes["retry"] += 1
            else:
                delay = min(cap, base * (2 ** (n - 1))) * (0.5 + random.random() / 2)  # noqa: S311
                queue.append((time.monotonic() + delay, n, send.payout_id))

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="payout-send") as pool:
        while queue or in_flight:
            now = time.monotonic()
            queue.sort()
            ready = [item for item in queue if item[0] <= now][:chunk]
            if not ready and in_flight is None:
                time.sleep(max(0.0, min(item[0] for item in queue) - now))
                continue
            batch = None
            if ready:
                taken = {pk for _, _, pk in ready}
                queue[:] = [item for item in queue if item[2] not in taken]
                for _, n, pk in ready:
                    tries[pk] = n + 1
                sends = _payouts_mark_in_transit([pk for _, _, pk in ready])
                batch = (sends, [pool.submit(_transfer_request, send, pacer) for send in sends])
            if in_flight is not None:
                record(in_flight)
            in_flight = batch
    return dict(outcomes)


def _payouts_mark_in_transit(payout_ids: list[int]) -> list[_Send]:
    """Lock the still-open payouts (pk order), mark them in_transit and count the attempt."""
    if not payout_ids:
        return []
    with transaction.atomic():
        payouts = list(Payout.objects.select_for_update(of=("self",)).select_related("run")
                       .filter(pk__in=payout_ids, status__in=OPEN_PAYOUT_STATUSES).order_by("pk"))
        now = timezone.now()
        for payout in payouts:
            payout.status, payout.attempts, payout.last_attempt_at = PayoutStatus.IN_TRANSIT, payout.attempts + 1, now
        Payout.objects.bulk_update(payouts, ["status", "attempts", "last_attempt_at"])
    return [_Send(payout_id=p.pk, worker_id=p.worker_id, run_id=p.run_id, amount=p.amount, currency=p.currency,
                  destination=p.destination, idempotency_key=p.idempotency_key,
                  transfer_group=p.run.transfer_group) for p in payouts]


def _transfer_request(send: _Send, pacer: _Pacer | None = None) -> _Send:
    if pacer is not None:
        pacer.wait()
    try:
        transfer = stripe_gateway.transfer_create(
            amount=send.amount, currency=send.currency, destination=send.destination,
            transfer_group=send.transfer_group, idempotency_key=send.idempotency_key,
            metadata={"payout_id": str(send.payout_id), "run_id": str(send.run_id),
                      "worker_id": str(send.worker_id)},
            description=f"Shiftline payout {send.payout_id}",
        )
        send.transfer_id, send.error = transfer.id, None
    except stripe.StripeError as exc:
        send.transfer_id, send.error = "", exc
    return send


def _payouts_record_answers(sends: list[_Send]) -> list[tuple[_Send, str]]:
    """Record a chunk's answers in one transaction: accepted → paid (in_transit → paid posting),
    refused for good → failed (money back to available), otherwise still in transit."""
    results: list[tuple[_Send, str]] = []
    accepted = [s for s in sends if s.transfer_id]
    refused, transient = [], []
    for send in sends:
        if send.error is None:
            continue
        outcome = stripe_gateway.classify(send.error)
        if outcome == stripe_gateway.Outcome.PERMANENT:
            refused.append(send)
        else:
            transient.append((send, outcome))
    with transaction.atomic():
        if accepted:
            _payouts_mark_paid_many(accepted)
            results += [(s, "paid") for s in accepted]
        for send in refused:
            exc = send.error
            code = str(getattr(exc, "code", None) or f"http_{exc.http_status or 'none'}")
            payout_mark_failed(payout_id=send.payout_id, code=code, message=str(exc.user_message or exc))
            results.append((send, "failed"))
        for send, outcome in transient:
            exc = send.error
            code = str(getattr(exc, "code", None) or f"http_{exc.http_status or 'none'}")
            Payout.objects.filter(pk=send.payout_id, status=PayoutStatus.IN_TRANSIT).update(
                failure_code=f"{outcome.value}:{code}"[:64], failure_message=str(exc)[:2000])
            if outcome == stripe_gateway.Outcome.STUCK:
                logger.error("payout %s stuck: %s", send.payout_id, exc)
                results.append((send, "stuck"))
            else:
                results.append((send, "retry"))
    return results


def _payouts_mark_paid_many(sends: list[_Send]) -> None:
    """`payout_mark_paid` for many payouts in the caller's transaction (same locks, same keys)."""
    transfer_of = {s.payout_id: s.transfer_id for s in sends}
    payouts = list(Payout.objects.select_for_update().filter(pk__in=transfer_of).order_by("pk"))
    to_pay = [p for p in payouts if p.status in OPEN_PAYOUT_STATUSES]
    for p in payouts:
        if p.status == PayoutStatus.FAILED:
            logger.error("transfer %s exists for failed payout %s", transfer_of[p.pk], p.pk)
    if not to_pay:
        return
    postings: list[Posting] = []
    for currency in {p.currency for p in to_pay}:
        group = [p for p in to_pay if p.currency == currency]
        accounts = ledger_accounts_ensure(worker_ids={p.worker_id for p in group}, currency=currency)
        postings += [
            Posting(key=f"payout-paid:{p.pk}", kind=JournalKind.PAYOUT_PAID, currency=currency,
                    lines=[(accounts[(AccountKind.WORKER_IN_TRANSIT, p.worker_id)], -p.amount),
                           (accounts[(AccountKind.WORKER_PAID, p.worker_id)], p.amount)],
                    memo=f"Transfer {transfer_of[p.pk]}", worker_id=p.worker_id, payout_id=p.pk,
                    refs={"transfer": transfer_of[p.pk]})
            for p in group
        ]
    ledger_post_many(postings)
    now = timezone.now()
    for p in to_pay:
        p.status, p.stripe_transfer_id, p.paid_at = PayoutStatus.PAID, transfer_of[p.pk], now
        p.failure_code, p.failure_message, p.next_attempt_at = "", "", None
    Payout.objects.bulk_update(to_pay, ["status", "stripe_transfer_id", "paid_at", "failure_code",
                                        "failure_message", "next_attempt_at"])
    Earning.objects.filter(payout_id__in=[p.pk for p in to_pay], status=EarningStatus.IN_PAYOUT).update(
        status=EarningStatus.PAID)
    PayoutEvent.objects.bulk_create([PayoutEvent(payout=p, kind="paid", data={"transfer": p.stripe_transfer_id,
                                                                              "source": "api"}) for p in to_pay])


def payout_send(*, payout_id: int) -> str:
    """Send one payout's transfer now (with retries); returns paid / failed / retry / stuck / done."""
    outcomes = payouts_send(payout_ids=[payout_id])
    return next(iter(outcomes), "done")


def payout_mark_paid(*, payout_id: int, transfer_id: str, source: str) -> Payout:
    """Stripe accepted the transfer: in_transit → paid, money to the worker's paid account.

    Locks the payout; safe to repeat (the API answer and a `transfer.created` webhook may both
    arrive, in either order)."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status == PayoutStatus.PAID:
            return payout
        if payout.status == PayoutStatus.FAILED:
            logger.error("transfer %s exists for failed payout %s", transfer_id, payout.pk)
            PayoutEvent.objects.create(payout=payout, kind="transfer_after_failure",
                                       data={"transfer": transfer_id, "source": source})
            return payout
        accounts = ledger_accounts_ensure(worker_ids=[payout.worker_id], currency=payout.currency)
        ledger_post(key=f"payout-paid:{payout.pk}", kind=JournalKind.PAYOUT_PAID, currency=payout.currency,
                    lines=[(accounts[(AccountKind.WORKER_IN_TRANSIT, payout.worker_id)], -payout.amount),
                           (accounts[(AccountKind.WORKER_PAID, payout.worker_id)], payout.amount)],
                    memo=f"Transfer {transfer_id}", worker_id=payout.worker_id, payout_id=payout.pk,
                    refs={"transfer": transfer_id})
        payout.status, payout.stripe_transfer_id, payout.paid_at = PayoutStatus.PAID, transfer_id, timezone.now()
        payout.failure_code, payout.failure_message, payout.next_attempt_at = "", "", None
        payout.save(update_fields=["status", "stripe_transfer_id", "paid_at", "failure_code",
                                   "failure_message", "next_attempt_at"])
        Earning.objects.filter(payout=payout, status=EarningStatus.IN_PAYOUT).update(status=EarningStatus.PAID)
        PayoutEvent.objects.create(payout=payout, kind="paid", data={"transfer": transfer_id, "source": source})
        return payout


def payout_mark_failed(*, payout_id: int, code: str, message: str = "") -> Payout:
    """Stripe refused the transfer for good: failed, and the money returns to available."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status not in OPEN_PAYOUT_STATUSES:
            return payout
        accounts = ledger_accounts_ensure(worker_ids=[payout.worker_id], currency=payout.currency)
        ledger_post(key=f"payout-failed:{payout.pk}", kind=JournalKind.PAYOUT_FAILED, currency=payout.currency,
                    lines=[(accounts[(AccountKind.WORKER_IN_TRANSIT, payout.worker_id)], -payout.amount),
                           (accounts[(AccountKind.WORKER_AVAILABLE, payout.worker_id)], payout.amount)],
                    memo=f"Payout {payout.pk} failed: {code}", worker_id=payout.worker_id,
                    payout_id=payout.pk, refs={"code": code})
        payout.status, payout.failed_at = PayoutStatus.FAILED, timezone.now()
        payout.failure_code, payout.failure_message = code[:64], message[:2000]
        payout.save(update_fields=["status", "failed_at", "failure_code", "failure_message"])
        Earning.objects.filter(payout=payout, status=EarningStatus.IN_PAYOUT).update(
            status=EarningStatus.AVAILABLE, payout=None)
        PayoutEvent.objects.create(payout=payout, kind="failed", data={"code": code, "message": message[:500]})
        return payout


def payouts_retry_stuck(*, idle_for: timedelta = timedelta(minutes=2)) -> int:
    """Resend open payouts nobody is working on (a crashed run, retries exhausted), then finish
    their runs. Safe alongside a run: the same idempotency key makes a duplicate send harmless."""
    now = timezone.now()
    ids = list(Payout.objects.filter(status__in=OPEN_PAYOUT_STATUSES)
               .filter(Q(next_attempt_at__lte=now)
                       | Q(next_attempt_at__isnull=True, last_attempt_at__lte=now - idle_for)
                       | Q(next_attempt_at__isnull=True, last_attempt_at__isnull=True, created_at__lte=now - idle_for))
               .order_by("pk").values_list("pk", flat=True)[:1000])
    # Stripe keeps idempotency keys for 24 hours: before resending an old payout, look for a
    # transfer that already exists for it (by its run's transfer group and our metadata).
    old = list(Payout.objects.filter(pk__in=ids, created_at__lte=now - timedelta(hours=12))
               .select_related("run").order_by("pk"))
    found: set[int] = set()
    for group in {p.run.transfer_group for p in old}:
        wanted = {str(p.pk): p for p in old if p.run.transfer_group == group}
        for transfer in stripe_gateway.transfers_list(transfer_group=group):
            metadata = transfer.metadata.to_dict() if transfer.metadata else {}
            payout = wanted.get(str(metadata.get("payout_id") or ""))
            if payout is not None:
                payout_mark_paid(payout_id=payout.pk, transfer_id=transfer.id, source="reconciled")
                found.add(payout.pk)
    payouts_send(payout_ids=[pk for pk in ids if pk not in found])
    for run_id in PayoutRun.objects.filter(status=PayoutRunStatus.RUNNING).values_list("pk", flat=True):
        payout_run_finalize(run_id=run_id)
    return len(ids)


# --- Stripe: onboarding and webhooks ----------------------------------------------------------


def payout_account_status_from(account: dict) -> str:
    """Map a Stripe account to `none/pending/ready/restricted`.

    restricted: Stripe disabled it (`requirements.disabled_reason`) or its transfers capability is
    inactive after details were submitted; ready: transfers capability active (or payouts
    enabled when capabilities are not given); pending otherwise (onboarding not finished)."""
    requirements = account.get("requirements") or {}
    capabilities = account.get("capabilities") or {}
    transfers = capabilities.get("transfers") if isinstance(capabilities, dict) else None
    if requirements.get("disabled_reason"):
        return PayoutAccountStatus.RESTRICTED
    if transfers == "active" or (transfers is None and account.get("payouts_enabled")):
        return PayoutAccountStatus.READY
    if account.get("details_submitted") and transfers == "inactive":
        return PayoutAccountStatus.RESTRICTED
    return PayoutAccountStatus.PENDING


def payout_account_onboarding_url(*, worker: Worker, refresh_url: str, return_url: str) -> str:
    """Create the worker's connected account if needed (idempotent per worker at Stripe) and
    return a fresh Account Link to onboard. A new link each call (links are single-use)."""
    try:
        if not worker.stripe_account_id:
            account = stripe_gateway.account_create(worker_id=worker.pk, email=worker.user.email,
                                                    country=worker.country)
            worker = payout_account_attach(worker_id=worker.pk, stripe_account_id=account.id,
                                           actor=worker.user)
        link = stripe_gateway.account_link_create(account_id=worker.stripe_account_id,
                                                  refresh_url=refresh_url, return_url=return_url)
    except stripe.StripeError as exc:
        if stripe_gateway.classify(exc) == stripe_gateway.Outcome.PERMANENT:
            raise PayoutAccountRefused(str(exc.user_message or "Stripe refused the account.")) from exc
        raise StripeUnavailable() from exc
    return link.url


def stripe_event_handle(*, event: dict) -> StripeEvent:
    """Handle one verified webhook event once per event id, in one transaction with its record.

    Handlers tolerate any order: `account.updated` ignores an event older than the newest one
    already applied to that account; transfer events use cumulative amounts and mark a payout
    paid if the webhook beats the API answer."""
    obj = (event.get("data") or {}).get("object") or {}
    created = event.get("created")
    created_at = datetime.fromtimestamp(int(created), tz=UTC) if created else None
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeEvent.objects.create(
                    event_id=event["id"], type=event.get("type", ""), object_id=str(obj.get("id") or ""),
                    livemode=bool(event.get("livemode")), created=created_at, payload=event)
        except IntegrityError:
            return StripeEvent.objects.get(event_id=event["id"])
        handler = _WEBHOOK_HANDLERS.get(record.type)
        record.result = handler(record, obj) if handler else "ignored"
        record.processed_at = timezone.now()
        record.save(update_fields=["result", "processed_at"])
        return record


def _on_account_updated(record: StripeEvent, account: dict) -> str:
    if record.created and StripeEvent.objects.filter(
        type="account.updated", object_id=record.object_id, created__gt=record.created,
        processed_at__isnull=False,
    ).exclude(pk=record.pk).exists():
        return "stale"
    status = payout_account_status_from(account)
    worker = payout_account_status_set(stripe_account_id=record.object_id, status=status,
                                       reason=f"Stripe event {record.event_id}",
                                       data={"event": record.event_id})
    return f"status:{status}" if worker else "unknown_account"


def _payout_for_transfer(transfer: dict) -> Payout | None:
    payout = Payout.objects.filter(stripe_transfer_id=transfer.get("id") or "-").first()
    if payout is None:
        payout_id = str((transfer.get("metadata") or {}).get("payout_id") or "")
        if payout_id.isdigit():
            payout = Payout.objects.filter(pk=int(payout_id)).first()
    return payout


def _on_transfer_event(record: StripeEvent, transfer: dict) -> str:
    """`transfer.created/updated/reversed`: the transfer exists, so its payout is paid; any
    cumulative `amount_reversed` it carries returns to available (once)."""
    payout = _payout_for_transfer(transfer)
    if payout is None:
        return "unknown_transfer"
    payout = payout_apply_reversal(payout_id=payout.pk, transfer=transfer, source=record.event_id)
    return f"payout:{payout.status}:reversed={payout.reversed_amount}"


def payout_apply_reversal(*, payout_id: int, transfer: dict, source: str = "") -> Payout:
    """Return reversed money to available by a reversing posting (paid → available).

    Uses the transfer's cumulative `amount_reversed`, so duplicate or out-of-order events post
    each reversed cent once (key `payout-reversed:<payout>:<cumulative>`). A reversal that
    arrives before the payout was marked paid first marks it paid (the transfer exists)."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status in OPEN_PAYOUT_STATUSES:
            payout = payout_mark_paid(payout_id=payout.pk, transfer_id=transfer["id"], source=f"reversal:{source}")
        if payout.status != PayoutStatus.PAID:
            return payout
        reversed_total = transfer.get("amount_reversed")
        if reversed_total is None:
            reversals = ((transfer.get("reversals") or {}).get("data")) or []
            reversed_total = sum(int(r.get("amount") or 0) for r in reversals)
        cumulative = min(int(reversed_total or 0), payout.amount)
        delta = cumulative - payout.reversed_amount
        if delta <= 0:
            return payout
        accounts = ledger_accounts_ensure(worker_ids=[payout.worker_id], currency=payout.currency)
        ledger_post(key=f"payout-reversed:{payout.pk}:{cumulative}", kind=JournalKind.PAYOUT_REVERSED,
                    currency=payout.currency,
                    lines=[(accounts[(AccountKind.WORKER_PAID, payout.worker_id)], -delta),
                           (accounts[(AccountKind.WORKER_AVAILABLE, payout.worker_id)], delta)],
                    memo=f"Transfer {transfer['id']} reversed", worker_id=payout.worker_id,
                    payout_id=payout.pk, refs={"transfer": transfer["id"], "event": source})
        payout.reversed_amount, payout.reversed_at = cumulative, timezone.now()
        payout.save(update_fields=["reversed_amount", "reversed_at"])
        if cumulative == payout.amount:
            Earning.objects.filter(payout=payout, status=EarningStatus.PAID).update(
                status=EarningStatus.AVAILABLE, payout=None)
        PayoutEvent.objects.create(payout=payout, kind="reversed",
                                   data={"amount": delta, "cumulative": cumulative, "event": source})
        return payout


_WEBHOOK_HANDLERS = {
    "account.updated": _on_account_updated,
    "transfer.created": _on_transfer_event,
    "transfer.updated": _on_transfer_event,
    "transfer.reversed": _on_transfer_event,
}

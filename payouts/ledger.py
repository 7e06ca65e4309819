"""The double-entry ledger: accounts, postings (idempotent by key, balanced, one currency each)
and the proof that it holds together.

Accounts are locked with `select_for_update` in primary-key order by `ledger_post_many`; a
service that also locks earnings or payouts locks those first (earnings/payout rows, then
accounts), except the payout run, which locks accounts first and then only touches `available`
earnings, which no other locker holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction

from payouts.errors import CurrencyMismatch, LedgerError, Unbalanced
from payouts.models import (
    WORKER_ACCOUNT_KINDS,
    AccountKind,
    JournalKind,
    JournalLine,
    JournalTransaction,
    LedgerAccount,
)
from payouts.rate_card import rate_card_current


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
    # One array parameter, joined rather than `= ANY(...)`: on a table whose statistics lag
    # (accounts created by this very run) the planner may scan it sequentially, and `= ANY` then
    # compares every row with every id.
    with connection.cursor() as cursor:
        cursor.execute("SELECT a.kind, a.worker_id, a.id FROM unnest(%s::bigint[]) AS w(id) "
                       "JOIN payouts_ledgeraccount a ON a.worker_id = w.id AND a.currency = %s",
                       [worker_ids, currency])
        return {(kind, worker): pk for kind, worker, pk in cursor.fetchall()}


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
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payouts_ledgeraccount AS a SET balance = a.balance + v.delta "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, delta) WHERE a.id = v.id",
            [[pk for pk, _ in items], [delta for _, delta in items]])


def _accounts_lock(account_ids: list[int]) -> dict[int, str]:
    """Lock the accounts in primary-key order (so concurrent posters cannot deadlock); their currencies."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT a.id, a.currency FROM unnest(%s::bigint[]) AS x(id) "
                       "JOIN payouts_ledgeraccount a ON a.id = x.id ORDER BY a.id FOR UPDATE OF a",
                       [account_ids])
        return dict(cursor.fetchall())


def _journal_lines_insert(lines: list[tuple[int, int, int, str]]) -> None:
    """Insert (transaction, account, amount, currency) lines in one statement from arrays, without
    building a model instance per line (a settlement batch has thousands)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payouts_journalline (transaction_id, account_id, amount, currency) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[])",
            [[line[0] for line in lines], [line[1] for line in lines], [line[2] for line in lines],
             [line[3] for line in lines]])


def ledger_post_many(postings: Sequence[Posting]) -> list[bool]:
    """Post journal transactions in one database transaction; return which were new.

    Validates each (non-zero integer lines summing to zero, one currency matching every
    account's), locks every account involved in primary-key order, skips postings whose key
    already exists (so repeating is harmless), inserts transactions and lines, and updates the
    cached balances in the same transaction. The database re-checks the balance at commit.
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


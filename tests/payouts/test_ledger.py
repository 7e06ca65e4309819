"""The double-entry ledger: balanced, immutable, idempotent postings; caches that verify."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from payouts import ledger
from payouts.errors import CurrencyMismatch, Unbalanced
from payouts.models import AccountKind, JournalLine, JournalTransaction, LedgerAccount
from tests.factories.workers import WorkerFactory


def _accounts(worker, currency="eur"):
    """The worker's accounts and the platform adjustments account (postings between a worker's
    available balance and adjustments need no earning rows behind them)."""
    accounts = ledger.ledger_accounts_ensure(worker_ids=[worker.pk], currency=currency)
    return accounts, ledger.platform_account(AccountKind.ADJUSTMENTS, currency)


def _balance(pk):
    return LedgerAccount.objects.get(pk=pk).balance


def test_posting_updates_cached_balances_and_verifies(db):
    worker = WorkerFactory()
    accounts, expense = _accounts(worker)
    pending = accounts[(AccountKind.WORKER_AVAILABLE, worker.pk)]

    created = ledger.ledger_post(key="t:1", kind="case_pay", currency="eur", lines=[(pending, 500), (expense, -500)])

    assert created is True
    assert _balance(pending) == 500
    assert _balance(expense) == -500
    assert ledger.ledger_verify().ok


def test_posting_twice_with_one_key_posts_once(db):
    worker = WorkerFactory()
    accounts, expense = _accounts(worker)
    pending = accounts[(AccountKind.WORKER_PENDING, worker.pk)]

    lines = [(pending, 500), (expense, -500)]
    first = ledger.ledger_post(key="t:same", kind="case_pay", currency="eur", lines=lines)
    second = ledger.ledger_post(key="t:same", kind="case_pay", currency="eur", lines=lines)

    assert (first, second) == (True, False)
    assert JournalTransaction.objects.filter(idempotency_key="t:same").count() == 1
    assert JournalLine.objects.count() == 2
    assert _balance(pending) == 500


def test_unbalanced_posting_refused_and_nothing_changes(db):
    worker = WorkerFactory()
    accounts, expense = _accounts(worker)
    pending = accounts[(AccountKind.WORKER_PENDING, worker.pk)]

    with pytest.raises(Unbalanced):
        ledger.ledger_post(key="t:bad", kind="case_pay", currency="eur", lines=[(pending, 500), (expense, -499)])

    assert JournalTransaction.objects.count() == 0
    assert _balance(pending) == 0


def test_mixed_currency_posting_refused(db):
    worker = WorkerFactory()
    eur, _ = _accounts(worker, "eur")
    usd_expense = ledger.platform_account(AccountKind.ADJUSTMENTS, "usd")

    with pytest.raises(CurrencyMismatch):
        ledger.ledger_post(key="t:mixed", kind="case_pay", currency="eur",
                             lines=[(eur[(AccountKind.WORKER_PENDING, worker.pk)], 500), (usd_expense, -500)])

    assert JournalTransaction.objects.count() == 0


def test_database_refuses_unbalanced_transaction(transactional_db):
    worker = WorkerFactory()
    accounts, _ = _accounts(worker)
    pending = accounts[(AccountKind.WORKER_PENDING, worker.pk)]

    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
        txn = JournalTransaction.objects.create(idempotency_key="raw:1", kind="adjustment")
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO payouts_journalline (transaction_id, account_id, amount, currency) "
                           "VALUES (%s, %s, 700, 'eur')", [txn.pk, pending])

    assert JournalTransaction.objects.count() == 0
    assert JournalLine.objects.count() == 0


def test_database_refuses_a_line_that_unbalances_a_posted_transaction(transactional_db):
    worker = WorkerFactory()
    accounts, expense = _accounts(worker)
    pending = accounts[(AccountKind.WORKER_PENDING, worker.pk)]
    ledger.ledger_post(key="t:posted", kind="case_pay", currency="eur", lines=[(pending, 500), (expense, -500)])
    txn = JournalTransaction.objects.get(idempotency_key="t:posted")

    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO payouts_journalline (transaction_id, account_id, amount, currency) "
                       "VALUES (%s, %s, 100, 'eur')", [txn.pk, pending])
    with transaction.atomic(), connection.cursor() as cursor:  # a balanced pair in one statement is fine
        cursor.execute("INSERT INTO payouts_journalline (transaction_id, account_id, amount, currency) "
                       "VALUES (%s, %s, 100, 'eur'), (%s, %s, -100, 'eur')", [txn.pk, pending, txn.pk, expense])

    assert sorted(JournalLine.objects.filter(transaction=txn).values_list("amount", flat=True)) == [
        -500, -100, 100, 500]


def test_database_refuses_update_and_delete_of_lines(db):
    worker = WorkerFactory()
    accounts, expense = _accounts(worker)
    pending = accounts[(AccountKind.WORKER_PENDING, worker.pk)]
    ledger.ledger_post(key="t:2", kind="case_pay", currency="eur", lines=[(pending, 500), (expense, -500)])

    for sql in ("UPDATE payouts_journalline SET amount = amount * 2",
                "DELETE FROM payouts_journalline",
                "UPDATE payouts_journaltransaction SET memo = 'edited'"):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)

    assert sorted(JournalLine.objects.values_list("amount", flat=True)) == [-500, 500]


def test_verify_ledger_command_detects_a_tampered_cache(db):
    worker = WorkerFactory()
    accounts, expense = _accounts(worker)
    pending = accounts[(AccountKind.WORKER_AVAILABLE, worker.pk)]
    ledger.ledger_post(key="t:3", kind="case_pay", currency="eur", lines=[(pending, 500), (expense, -500)])
    call_command("verify_ledger")

    LedgerAccount.objects.filter(pk=pending).update(balance=900)

    with pytest.raises(CommandError):
        call_command("verify_ledger")


def test_worker_accounts_cannot_go_negative_in_the_database(db):
    worker = WorkerFactory()
    accounts, expense = _accounts(worker)
    pending = accounts[(AccountKind.WORKER_PENDING, worker.pk)]

    with pytest.raises(DatabaseError):
        ledger.ledger_post(key="t:neg", kind="void", currency="eur", lines=[(pending, -100), (expense, 100)])

    assert _balance(pending) == 0
    assert JournalTransaction.objects.count() == 0

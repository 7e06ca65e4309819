"""Payout runs against the real stripe_sandbox, through the official SDK."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from payouts import ledger, runs, selectors, stripe_connect
from payouts.models import Earning, Payout, PayoutRun
from tests.factories.workers import WorkerFactory
from tests.servers import ROOT, server_env


def _run():
    run = runs.payout_run_create()
    return runs.payout_run_execute(run_id=run.pk)


def test_run_pays_a_ready_worker_once_and_moves_the_money_to_paid(db, payouts_inline, stripe_sandbox,
                                                                  ready_worker_factory, earn):
    worker = ready_worker_factory()
    earn(worker, cases=5)  # 2,500 available ≥ minimum 2,000

    run = _run()

    payout = Payout.objects.get(worker=worker)
    assert (payout.status, payout.amount, payout.currency, payout.attempts) == ("paid", 2500, "eur", 1)
    assert run.status == "completed" and run.payouts_count == 1 and run.total == 2500
    transfers = stripe_sandbox.transfers(transfer_group=run.transfer_group)
    assert [(t["id"], t["amount"], t["destination"]) for t in transfers] == [
        (payout.stripe_transfer_id, 2500, worker.stripe_account_id)]
    assert transfers[0]["metadata"] == {"payout_id": str(payout.pk), "run_id": str(run.pk),
                                        "worker_id": str(worker.pk)}
    assert selectors.balance_for_worker(worker) == {"currency": "eur", "pending": 0, "available": 0,
                                                    "in_transit": 0, "paid": 2500}
    assert set(Earning.objects.filter(worker=worker).values_list("status", flat=True)) == {"paid"}
    assert ledger.ledger_verify().ok


def test_worker_below_minimum_or_without_ready_account_keeps_accumulating(db, payouts_inline, stripe_sandbox,
                                                                          ready_worker_factory, earn):
    below = ready_worker_factory()
    earn(below, cases=3)  # 1,500 < 2,000
    not_connected = WorkerFactory()
    earn(not_connected, cases=10)
    restricted = ready_worker_factory()
    earn(restricted, cases=10)
    stripe_connect.stripe_event_handle(event={
        "id": "evt_restricted", "type": "account.updated", "created": 2_000_000_000,
        "data": {"object": {"id": restricted.stripe_account_id, "requirements": {"disabled_reason": "past_due"}}},
    })

    run = _run()

    assert run.payouts_count == 0
    assert stripe_sandbox.transfers() == []
    assert selectors.balance_for_worker(below)["available"] == 1500
    assert selectors.balance_for_worker(not_connected)["available"] == 5000
    assert selectors.balance_for_worker(restricted)["available"] == 5000


def test_permanent_refusal_fails_the_payout_and_returns_the_money(db, payouts_inline, stripe_sandbox,
                                                                  ready_worker_factory, earn):
    worker = ready_worker_factory()
    earn(worker, cases=5)
    # Stripe restricted the account but its webhook has not reached us: the transfer is refused.
    stripe_sandbox.account_status(worker.stripe_account_id, "restricted", sync=False)

    run = _run()

    payout = Payout.objects.get(worker=worker)
    assert payout.status == "failed"
    assert payout.failure_code == "insufficient_capabilities_for_transfer"
    assert run.failed_count == 1 and run.status == "completed"
    assert selectors.balance_for_worker(worker) == {"currency": "eur", "pending": 0, "available": 2500,
                                                    "in_transit": 0, "paid": 0}
    assert set(Earning.objects.filter(worker=worker).values_list("status", flat=True)) == {"available"}
    assert stripe_sandbox.transfers() == []
    assert ledger.ledger_verify().ok


def test_sandbox_500_after_doing_the_work_then_success_makes_one_transfer(db, payouts_inline, stripe_sandbox,
                                                                         ready_worker_factory, earn):
    worker = ready_worker_factory()
    earn(worker, cases=5)
    stripe_sandbox.fail(path="/v1/transfers", mode="500_after", count=2)

    run = _run()

    payout = Payout.objects.get(worker=worker)
    assert (payout.status, payout.attempts) == ("paid", 3)
    transfers = stripe_sandbox.transfers()
    assert len(transfers) == 1 and transfers[0]["id"] == payout.stripe_transfer_id
    assert stripe_sandbox.stats()["idempotent_replays"] == 1
    assert run.status == "completed"
    assert selectors.balance_for_worker(worker)["paid"] == 2500


@pytest.mark.parametrize("mode", ["500_before", "429", "timeout"])
def test_transient_failures_are_retried_with_the_same_key(db, payouts_inline, stripe_sandbox, settings,
                                                          ready_worker_factory, earn, mode):
    settings.PAYOUTS = {**settings.PAYOUTS, "STRIPE_TIMEOUT": 1}
    worker = ready_worker_factory()
    earn(worker, cases=5)
    stripe_sandbox.fail(path="/v1/transfers", mode=mode, count=2, seconds=2)

    _run()

    payout = Payout.objects.get(worker=worker)
    assert (payout.status, payout.attempts) == ("paid", 3)
    assert len(stripe_sandbox.transfers()) == 1


def test_run_paced_under_stripes_rate_limit_gets_no_429s(db, payouts_inline, stripe_sandbox, settings,
                                                         ready_worker_factory, earn):
    settings.PAYOUTS = {**settings.PAYOUTS, "SEND_RATE": 18}
    workers = [ready_worker_factory() for _ in range(30)]
    for worker in workers:
        earn(worker, cases=4)
    stripe_sandbox.rate_limit(20)
    before = stripe_sandbox.stats().get("rate_limited", 0)

    run = _run()

    assert run.status == "completed" and run.payouts_count == 30
    assert set(Payout.objects.values_list("status", "attempts")) == {("paid", 1)}
    assert stripe_sandbox.stats().get("rate_limited", 0) == before
    assert len(stripe_sandbox.transfers(transfer_group=run.transfer_group)) == 30


def test_unpaced_run_over_the_rate_limit_is_answered_429_and_retried(db, payouts_inline, stripe_sandbox, settings,
                                                                     ready_worker_factory, earn):
    settings.PAYOUTS = {**settings.PAYOUTS, "SEND_RATE": 0}
    workers = [ready_worker_factory() for _ in range(30)]
    for worker in workers:
        earn(worker, cases=4)
    stripe_sandbox.rate_limit(5)
    before = stripe_sandbox.stats().get("rate_limited", 0)

    run = _run()

    assert stripe_sandbox.stats().get("rate_limited", 0) > before
    assert run.payouts_count == 30
    assert len(stripe_sandbox.transfers(transfer_group=run.transfer_group)) == Payout.objects.filter(
        status="paid").count()


def test_payout_stays_in_transit_while_retries_run_out_and_the_sweep_finishes_it(
        db, payouts_inline, stripe_sandbox, settings, ready_worker_factory, earn):
    settings.PAYOUTS = {**settings.PAYOUTS, "MAX_ATTEMPTS_PER_RUN": 2}
    worker = ready_worker_factory()
    earn(worker, cases=5)
    stripe_sandbox.fail(path="/v1/transfers", mode="500_after", count=2)

    run = _run()

    payout = Payout.objects.get(worker=worker)
    assert payout.status == "in_transit" and run.status == "running"
    assert selectors.balance_for_worker(worker)["in_transit"] == 2500
    Payout.objects.filter(pk=payout.pk).update(next_attempt_at=None, last_attempt_at="2000-01-01T00:00Z")

    runs.payouts_retry_stuck()

    payout.refresh_from_db()
    assert payout.status == "paid"
    assert PayoutRun.objects.get(pk=run.pk).status == "completed"
    assert len(stripe_sandbox.transfers()) == 1


@pytest.mark.django_db(transaction=True)
def test_run_payouts_twice_at_once_pays_every_worker_once(stripe_sandbox, ready_worker_factory, earn):
    workers = [ready_worker_factory() for _ in range(12)]
    for worker in workers:
        earn(worker, cases=5)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run_command():
        try:
            barrier.wait()
            call_command("run_payouts")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run_command) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    transfers = stripe_sandbox.transfers()
    assert sorted(t["destination"] for t in transfers) == sorted(w.stripe_account_id for w in workers)
    assert Payout.objects.count() == 12
    assert set(Payout.objects.values_list("status", flat=True)) == {"paid"}
    for worker in workers:
        assert selectors.balance_for_worker(worker) == {"currency": "eur", "pending": 0, "available": 0,
                                                        "in_transit": 0, "paid": 2500}
    assert ledger.ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_run_payouts_in_two_processes_at_once_pays_every_worker_once(stripe_sandbox, ready_worker_factory, earn):
    workers = [ready_worker_factory() for _ in range(10)]
    for worker in workers:
        earn(worker, cases=4)
    env = server_env(STRIPE_API_BASE=stripe_sandbox.url, PAYOUT_SEND_CONCURRENCY="2")
    cmd = [sys.executable, "manage.py", "run_payouts"]

    processes = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0].decode() for p in processes]

    assert [p.returncode for p in processes] == [0, 0], outputs
    assert len(stripe_sandbox.transfers()) == 10
    assert Payout.objects.filter(status="paid").count() == 10
    assert ledger.ledger_verify().ok


def test_sweep_finds_a_day_old_transfer_instead_of_resending(db, payouts_inline, stripe_sandbox,
                                                             ready_worker_factory, earn):
    """Stripe forgets idempotency keys after 24 h: an old open payout is looked up, not resent."""
    worker = ready_worker_factory()
    earn(worker, cases=5)
    run = runs.payout_run_create()
    runs.payouts_create_for_run(run=run)
    payout = Payout.objects.get(worker=worker)
    from payouts import stripe_gateway

    transfer = stripe_gateway.transfer_create(  # sent yesterday; the answer was lost
        amount=payout.amount, currency="eur", destination=payout.destination, transfer_group=run.transfer_group,
        idempotency_key="a-key-stripe-no-longer-remembers", metadata={"payout_id": str(payout.pk)})
    Payout.objects.filter(pk=payout.pk).update(status="in_transit", attempts=1,
                                               created_at="2000-01-01T00:00Z", last_attempt_at="2000-01-01T00:00Z")

    runs.payouts_retry_stuck()

    payout.refresh_from_db()
    assert (payout.status, payout.stripe_transfer_id) == ("paid", transfer.id)
    assert len(stripe_sandbox.transfers()) == 1

"""Exactly once across a crash: a Celery worker SIGKILLed in the middle of a payout run, then
restarted, leaves every payout paid exactly once (transfers counted in the sandbox)."""

from __future__ import annotations

import time

import pytest

from marketplace.celery import app
from payouts import ledger, runs
from payouts.models import Payout, PayoutRun
from tests.servers import CeleryWorker, wait_until


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_run_then_restarted_pays_everyone_exactly_once(stripe_sandbox, ready_worker_factory,
                                                                        earn):
    workers = [ready_worker_factory() for _ in range(6)]
    for worker in workers:
        earn(worker, cases=5)
    # Every transfer takes 0.7 s at "Stripe", so the run is still sending when the worker dies.
    stripe_sandbox.fail(path="/v1/transfers", mode="delay", seconds=0.7, count=1000)
    env = {"STRIPE_API_BASE": stripe_sandbox.url, "CELERY_VISIBILITY_TIMEOUT": "2",
           "PAYOUT_SEND_CONCURRENCY": "1"}
    first = CeleryWorker(**env)
    first.wait_for_log("ready.")
    run = runs.payout_run_create()

    with pytest.warns(Warning):  # send_task always goes to the broker, even in the eager test settings
        app.send_task("payouts.run_execute", args=[run.pk])
    wait_until(lambda: len(stripe_sandbox.transfers()) >= 2, 60, "two transfers")
    first.kill()  # SIGKILL to the whole worker (main process and pool)
    first.stop()

    paid_at_kill = Payout.objects.filter(status="paid").count()
    assert paid_at_kill < 6, "the run finished before the kill; nothing was proved"
    assert Payout.objects.filter(status__in=["pending", "in_transit"]).exists()
    time.sleep(2.5)  # past the visibility timeout: the unacknowledged task is handed out again

    second = CeleryWorker(**env)
    try:
        second.wait_for_log("ready.")
        wait_until(lambda: PayoutRun.objects.get(pk=run.pk).status == "completed", 90, "the run to complete")
    finally:
        second.stop()

    transfers = stripe_sandbox.transfers(transfer_group=run.transfer_group)
    assert sorted(t["destination"] for t in transfers) == sorted(w.stripe_account_id for w in workers)
    assert Payout.objects.filter(status="paid").count() == 6
    assert sorted(Payout.objects.values_list("stripe_transfer_id", flat=True)) == sorted(t["id"] for t in transfers)
    assert ledger.ledger_verify().ok

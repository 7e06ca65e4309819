"""A payout run whose task was never sent (the broker was down at commit) is executed by the sweep, once."""

from __future__ import annotations

import datetime as dt

import pytest

from payouts import ledger, runs
from payouts.models import Payout, PayoutRun

pytestmark = pytest.mark.usefixtures("payouts_inline")


def test_sweep_executes_a_run_left_queued_once_and_leaves_fresh_ones(db, stripe_sandbox, ready_worker_factory, earn):
    worker = ready_worker_factory()
    earn(worker, cases=5)
    stale = runs.payout_run_create()
    PayoutRun.objects.filter(pk=stale.pk).update(created_at=stale.created_at - dt.timedelta(minutes=5))
    fresh = runs.payout_run_create()

    first = runs.payout_runs_resume_queued(older_than=dt.timedelta(minutes=1))
    second = runs.payout_runs_resume_queued(older_than=dt.timedelta(minutes=1))

    assert (first, second) == ([stale.pk], [])
    assert PayoutRun.objects.get(pk=stale.pk).status == "completed"
    assert PayoutRun.objects.get(pk=fresh.pk).status == "queued"
    assert list(Payout.objects.values_list("run_id", "status", "amount")) == [(stale.pk, "paid", 2500)]
    assert len(stripe_sandbox.transfers()) == 1
    # The late task of the same run arriving afterwards pays nothing again.
    runs.payout_run_execute(run_id=stale.pk)
    assert len(stripe_sandbox.transfers()) == 1
    assert ledger.ledger_verify().ok

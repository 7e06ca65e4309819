"""`make run`'s Stripe sandbox keeps what it knew across a restart (`--state-file`), so a second
run of the demo still pays its worker instead of failing with "No such destination"."""

from __future__ import annotations

import pytest

from payouts import stripe_gateway
from payouts.models import Payout, PayoutStatus
from payouts.runs import payout_run_create, payout_run_execute
from tests.factories.payouts import make_ready
from tests.factories.workers import WorkerFactory
from tests.payouts.fixtures import SandboxControl
from tests.servers import StripeSandboxProcess

pytestmark = pytest.mark.slow


def _pay_out() -> None:
    run = payout_run_create(trigger="command")
    payout_run_execute(run_id=run.pk)


def test_a_restarted_sandbox_still_knows_the_account_and_pays_it(db, settings, tmp_path, payouts_inline, earn):
    state_file = str(tmp_path / "stripe-sandbox.json")
    first = StripeSandboxProcess(state_file=state_file)
    try:
        settings.STRIPE_API_BASE = first.url
        stripe_gateway._local.__dict__.clear()
        worker = WorkerFactory()
        account = stripe_gateway.account_create(worker_id=worker.pk, email=worker.user.email, country="PT")
        SandboxControl(first.url).account_status(account.id, "ready", sync=False)
        make_ready(worker, account.id)
        earn(worker, cases=5)
        _pay_out()
    finally:
        first.stop()  # Ctrl-C in make run: the sandbox writes what it knows

    second = StripeSandboxProcess(state_file=state_file, port=first.port)
    try:
        stripe_gateway._local.__dict__.clear()
        assert stripe_gateway.account_retrieve(account.id).id == account.id
        earn(worker, cases=5)
        _pay_out()

        assert list(Payout.objects.order_by("pk").values_list("status", flat=True)) == [PayoutStatus.PAID] * 2
        transfers = SandboxControl(second.url).transfers()
        assert sorted(t["destination"] for t in transfers) == [account.id, account.id]
    finally:
        second.stop()

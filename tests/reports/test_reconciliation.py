"""Reconciliation against the Stripe sandbox: each kind of mismatch is planted, and each is caught.

Payouts are made through the payouts services (real transfers in the sandbox, real ledger
postings); the mismatches are then planted the way they happen in life: a reversal at Stripe
that never reached us, a transfer made outside Shiftline, a row changed by a bug. Stripe is only
reached through the SDK, against the sandbox.
"""

from __future__ import annotations

import datetime as dt

import pytest

from payouts import ledger, runs, stripe_gateway
from payouts.models import AccountKind, JournalKind, Payout, PayoutRun

pytestmark = pytest.mark.usefixtures("payouts_inline", "skill_catalogue")



@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    """Files the reports keep (latest reconciliation, exports) go to this test's own directory."""
    settings.VAR_DIR = tmp_path

def today_range() -> dict:
    today = dt.datetime.now(dt.UTC).date()
    return {"from": (today - dt.timedelta(days=1)).isoformat(), "to": today.isoformat()}


def paid_payouts(ready_worker_factory, earn, n: int) -> list[Payout]:
    workers = [ready_worker_factory() for _ in range(n)]
    for worker in workers:
        earn(worker, cases=4)  # 4 × 5.00 = the 20.00 minimum payout
    run = runs.payout_run_create()
    runs.payout_run_execute(run_id=run.pk)
    payouts = list(Payout.objects.filter(run=run).order_by("worker_id"))
    assert [(p.status, p.amount) for p in payouts] == [("paid", 2000)] * n
    return payouts


def kinds(body: dict) -> list[tuple[str, int | None, str]]:
    return sorted((m["kind"], m["payout"], m["stripe_transfer_id"]) for m in body["mismatches"])


def test_reconciliation_is_clean_when_ledger_and_stripe_agree(finance_client, stripe_sandbox, ready_worker_factory,
                                                              earn):
    paid_payouts(ready_worker_factory, earn, 2)

    response = finance_client.get("/api/v1/reports/reconciliation/", today_range())

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["mismatches"] == []
    assert (body["payouts_checked"], body["transfers_checked"]) == (2, 2)


def test_reconciliation_runs_as_many_queries_for_3n_payouts_as_for_n(finance_client, stripe_sandbox,
                                                                    ready_worker_factory, earn):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            body = finance_client.get("/api/v1/reports/reconciliation/", today_range()).json()
        return len(captured), body["payouts_checked"]

    paid_payouts(ready_worker_factory, earn, 1)
    with_n = queries()
    paid_payouts(ready_worker_factory, earn, 2)

    # The token; our payouts; which listed transfers and payout ids we know; the clearing lines and balances.
    assert (with_n, queries()) == ((6, 1), (6, 3))


def test_reconciliation_catches_every_kind_of_mismatch(finance_client, stripe_sandbox, ready_worker_factory, earn):
    amount_bug, currency_bug, reversed_at_stripe, failed_bug, fine = paid_payouts(ready_worker_factory, earn, 5)
    client = stripe_gateway.stripe_client()
    # A partial reversal made at Stripe whose webhook never reached us.
    client.v1.transfers.reversals.create(reversed_at_stripe.stripe_transfer_id, params={"amount": 700})
    # Rows changed behind the services' back.
    Payout.objects.filter(pk=amount_bug.pk).update(amount=2100)
    Payout.objects.filter(pk=currency_bug.pk).update(currency="usd")
    Payout.objects.filter(pk=failed_bug.pk).update(status="failed")
    # A payout we believe paid, with a transfer Stripe never made.
    ghost = Payout.objects.create(
        run=PayoutRun.objects.create(status="completed", transfer_group="shiftline-run-ghost"),
        worker=fine.worker, amount=1500, currency="eur", status="paid", destination=fine.destination,
        stripe_transfer_id="tr_never_made", idempotency_key="ghost-payout",
        paid_at=dt.datetime.now(dt.UTC),
    )
    # A transfer someone made in the Stripe dashboard, unknown to Shiftline.
    stranger = stripe_gateway.transfer_create(amount=4200, currency="eur", destination=fine.destination,
                                              transfer_group="manual", idempotency_key="manual-transfer-1",
                                              metadata={"note": "made by hand"})
    # Money left on the Stripe clearing account.
    ledger.ledger_post(key="test-clearing-residue", kind=JournalKind.ADJUSTMENT, currency="eur",
                         lines=[(ledger.platform_account(AccountKind.STRIPE_CLEARING, "eur"), 300),
                                (ledger.platform_account(AccountKind.ADJUSTMENTS, "eur"), -300)])

    response = finance_client.get("/api/v1/reports/reconciliation/", today_range())

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert kinds(body) == sorted([
        ("amount_differs", amount_bug.pk, amount_bug.stripe_transfer_id),
        ("currency_differs", currency_bug.pk, currency_bug.stripe_transfer_id),
        ("reversed_not_in_ledger", reversed_at_stripe.pk, reversed_at_stripe.stripe_transfer_id),
        ("failed_in_ledger_but_at_stripe", failed_bug.pk, failed_bug.stripe_transfer_id),
        ("missing_at_stripe", ghost.pk, "tr_never_made"),
        ("ledger_posting_missing", ghost.pk, "tr_never_made"),
        ("unknown_to_us", None, stranger.id),
        ("clearing_not_zero", None, ""),
    ])
    by_kind = {m["kind"]: m for m in body["mismatches"]}
    assert (by_kind["amount_differs"]["ledger_amount"], by_kind["amount_differs"]["stripe_amount"]) == (2100, 2000)
    assert (by_kind["currency_differs"]["ledger_currency"], by_kind["currency_differs"]["stripe_currency"]) == (
        "usd", "eur")
    assert by_kind["unknown_to_us"]["stripe_amount"] == 4200
    assert by_kind["clearing_not_zero"]["ledger_amount"] == 300
    assert body["mismatch_counts"]["amount_differs"] == 1
    assert body["clearing"] == [{"currency": "eur", "lines_total": 300, "balance": 300, "ok": False}]


def test_daily_task_stores_the_result_for_the_finance_dashboard(stripe_sandbox, ready_worker_factory, earn,
                                                                  finance_user, client):
    from reports.tasks import reconcile_daily

    (payout,) = paid_payouts(ready_worker_factory, earn, 1)
    stripe_gateway.stripe_client().v1.transfers.reversals.create(payout.stripe_transfer_id, params={"amount": 2000})

    outcome = reconcile_daily.delay().get()

    assert outcome == {"ok": False, "mismatches": 1}
    client.force_login(finance_user)
    html = client.get("/finance/dashboard/").content.decode()
    assert 'data-state="mismatch"' in html
    assert "reversed_not_in_ledger" in html


def test_reconciliation_reports_stripe_down_as_503(finance_client, stripe_sandbox, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    stripe_gateway._local.__dict__.clear()

    response = finance_client.get("/api/v1/reports/reconciliation/", today_range())

    assert response.status_code == 503
    assert response.json()["code"] == "stripe_unavailable"


def test_reconciliation_follows_stripe_pagination(db, stripe_sandbox, ready_worker_factory, earn):
    from reports.selectors.reconciliation import reconciliation_report

    payouts = paid_payouts(ready_worker_factory, earn, 5)
    today = dt.datetime.now(dt.UTC).date()

    # Two transfers a page: three pages, all followed by the SDK's auto-pagination.
    result = reconciliation_report(day_from=today, day_to=today, page_size=2)

    assert (result["ok"], result["payouts_checked"], result["transfers_checked"]) == (True, 5, 5)
    assert stripe_sandbox.stats()["transfers"] == len(payouts)


def test_forged_reversal_the_ledger_applied_is_named_by_reconciliation(finance_client, stripe_sandbox,
                                                                      ready_worker_factory, earn, api_client):
    """A correctly signed `transfer.reversed` for a transfer Stripe never reversed (the webhook
    secret leaked): the ledger moves the money back to available, and reconciliation says so."""
    import json

    from django.conf import settings

    from stripe_sandbox.server import sign

    (payout,) = paid_payouts(ready_worker_factory, earn, 1)
    transfer = stripe_gateway.stripe_client().v1.transfers.retrieve(payout.stripe_transfer_id).to_dict()
    forged = {"id": "evt_forged_reversal", "object": "event", "type": "transfer.reversed", "livemode": False,
              "created": int(dt.datetime.now(dt.UTC).timestamp()),
              "data": {"object": {**transfer, "amount_reversed": payout.amount, "reversed": True}}}
    body = json.dumps(forged).encode()

    webhook = api_client.generic("POST", "/api/v1/payouts/stripe/webhook/", body, content_type="application/json",
                                 HTTP_STRIPE_SIGNATURE=sign(body, settings.STRIPE_WEBHOOK_SECRET))
    response = finance_client.get("/api/v1/reports/reconciliation/", today_range())

    assert webhook.status_code == 200
    payout.refresh_from_db()
    assert payout.reversed_amount == 2000
    assert response.status_code == 200
    report = response.json()
    assert report["ok"] is False
    assert kinds(report) == [("reversed_in_ledger_not_at_stripe", payout.pk, payout.stripe_transfer_id)]
    (mismatch,) = report["mismatches"]
    assert "reversed 2000" in mismatch["detail"] and "Stripe reversed 0" in mismatch["detail"]

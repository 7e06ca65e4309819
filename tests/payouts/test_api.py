"""The payouts API: contract shapes, roles, validation of bodies and query parameters."""

from __future__ import annotations

import pytest

from payouts import ledger
from payouts.models import Payout, RateCardChange
from tests.factories.workers import WorkerFactory


def test_rate_card_get_and_put_creates_an_audited_version(db, finance_client, finance_user):
    current = finance_client.get("/api/v1/payouts/rate-card/").json()

    response = finance_client.put("/api/v1/payouts/rate-card/", {
        "currency": "EUR", "base_per_case": 600, "csat_bonus": 150, "hold_hours": 48, "minimum_payout": 2500,
    }, format="json")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("version", "currency", "base_per_case", "csat_bonus", "hold_hours",
                                 "minimum_payout", "created_by")} == {
        "version": current["version"] + 1, "currency": "eur", "base_per_case": 600, "csat_bonus": 150,
        "hold_hours": 48, "minimum_payout": 2500, "created_by": finance_user.pk}
    change = RateCardChange.objects.get(rate_card__version=body["version"])
    assert change.actor == finance_user
    assert change.changes == {"base_per_case": [current["base_per_case"], 600],
                              "csat_bonus": [current["csat_bonus"], 150],
                              "hold_hours": [current["hold_hours"], 48],
                              "minimum_payout": [current["minimum_payout"], 2500]}
    assert finance_client.get("/api/v1/payouts/rate-card/").json()["version"] == body["version"]


def test_rate_card_put_with_bad_input_names_the_fields_and_changes_nothing(db, finance_client):
    before = finance_client.get("/api/v1/payouts/rate-card/").json()

    response = finance_client.put("/api/v1/payouts/rate-card/", {
        "currency": "euro", "base_per_case": -1, "csat_bonus": "x", "hold_hours": 48}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["fields"]) == {"currency", "base_per_case", "csat_bonus", "minimum_payout"}
    assert finance_client.get("/api/v1/payouts/rate-card/").json() == before


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/api/v1/payouts/rate-card/"), ("put", "/api/v1/payouts/rate-card/"),
    ("post", "/api/v1/payouts/runs/"), ("get", "/api/v1/payouts/runs/1/"),
])
def test_finance_endpoints_refuse_workers_and_ops(db, worker_client, ops_client, api_client, method, path):
    assert getattr(worker_client, method)(path).status_code == 403
    assert getattr(ops_client, method)(path).status_code == 403
    assert getattr(api_client, method)(path).status_code == 401


def test_balance_is_the_workers_own(db, worker, worker_client, earn):
    earn(worker, cases=2, settled=True)
    earn(worker, cases=1, settled=False)

    response = worker_client.get("/api/v1/payouts/balance/")

    assert response.status_code == 200
    assert response.json() == {"currency": "eur", "pending": 500, "available": 1000, "in_transit": 0, "paid": 0}


def test_earnings_workers_see_their_own_and_finance_filter_by_worker(db, worker, worker_client, finance_client, earn):
    other = WorkerFactory()
    mine = earn(worker, cases=2)
    earn(other, cases=1)

    own = worker_client.get("/api/v1/payouts/earnings/").json()
    peek = worker_client.get(f"/api/v1/payouts/earnings/?worker={other.pk}").json()
    finance_all = finance_client.get("/api/v1/payouts/earnings/").json()
    finance_one = finance_client.get(f"/api/v1/payouts/earnings/?worker={other.pk}").json()

    assert own["count"] == 2 and {e["ticket"] for e in own["results"]} == {t.pk for t in mine}
    first = own["results"][0]
    assert {k: first[k] for k in ("worker", "amount", "currency", "status")} == {
        "worker": worker.pk, "amount": 500, "currency": "eur", "status": "available"}
    assert {"id", "ticket", "created_at"} <= set(first)
    assert peek["count"] == 0
    assert finance_all["count"] == 3 and finance_one["count"] == 1


@pytest.mark.parametrize("query", ["worker=abc", "status=bogus", "run=0", "run=x", "worker=-1"])
def test_payout_list_query_parameters_are_validated(db, finance_client, query):
    response = finance_client.get(f"/api/v1/payouts/?{query}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_start_a_run_answers_202_and_the_run_shows_its_result(db, payouts_inline, stripe_sandbox, finance_client,
                                                              ready_worker_factory, earn,
                                                              django_capture_on_commit_callbacks):
    worker = ready_worker_factory()
    earn(worker, cases=5)

    with django_capture_on_commit_callbacks(execute=True):
        response = finance_client.post("/api/v1/payouts/runs/")

    assert response.status_code == 202
    assert set(response.json()) == {"id", "status"}
    run = finance_client.get(f"/api/v1/payouts/runs/{response.json()['id']}/").json()
    assert {k: run[k] for k in ("status", "payouts_count", "total")} == {
        "status": "completed", "payouts_count": 1, "total": 2500}
    assert run["started_at"] and run["finished_at"]
    payouts = finance_client.get(f"/api/v1/payouts/?run={run['id']}&status=paid&worker={worker.pk}").json()
    assert payouts["count"] == 1
    row = payouts["results"][0]
    assert {k: row[k] for k in ("worker", "amount", "currency", "status", "run")} == {
        "worker": worker.pk, "amount": 2500, "currency": "eur", "status": "paid", "run": run["id"]}
    assert row["stripe_transfer_id"] == Payout.objects.get().stripe_transfer_id


def test_unknown_run_is_404(db, finance_client):
    response = finance_client.get("/api/v1/payouts/runs/999999/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_payout_account_creates_one_account_and_a_fresh_link_each_time(db, stripe_sandbox, worker, worker_client):
    first = worker_client.post("/api/v1/workers/me/payout-account/")
    second = worker_client.post("/api/v1/workers/me/payout-account/")

    assert first.status_code == second.status_code == 200
    assert first.json()["onboarding_url"] != second.json()["onboarding_url"]
    worker.refresh_from_db()
    assert worker.payout_account_status == "pending"
    assert stripe_sandbox.stats()["accounts"] == 1
    assert worker.stripe_account_id.startswith("acct_")


def test_payout_account_is_for_workers_only(db, finance_client):
    assert finance_client.post("/api/v1/workers/me/payout-account/").status_code == 403


def test_ledger_adjustment_posts_through_the_same_ledger(db, worker):
    assert ledger.ledger_adjust(worker_id=worker.pk, amount=-300, key="quality:1", reason="Quality review")
    assert not ledger.ledger_adjust(worker_id=worker.pk, amount=-300, key="quality:1", reason="Quality review")
    assert ledger.ledger_verify().ok

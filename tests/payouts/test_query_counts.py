"""Every payouts list endpoint answers in the same number of queries for N and for 3N rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payouts import runs

ROWS = 2


def _queries(client, path: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(captured), response.json()


def _paid_workers(count: int, ready_worker_factory, earn) -> None:
    """`count` workers paid in one run: each with 5 cases, a payout and its earnings."""
    for _ in range(count):
        earn(ready_worker_factory(), cases=5)
    runs.payout_run_execute(run_id=runs.payout_run_create().pk)


@pytest.mark.parametrize("path", ["/api/v1/payouts/", "/api/v1/payouts/earnings/", "/api/v1/payouts/runs/"])
def test_finance_lists_cost_the_same_queries_for_n_and_3n_rows(db, payouts_inline, stripe_sandbox,
                                                               ready_worker_factory, earn, finance_client, path):
    _paid_workers(ROWS, ready_worker_factory, earn)  # one run, 2 payouts, 10 earnings
    few, body = _queries(finance_client, path)

    for _ in range(2):
        _paid_workers(ROWS, ready_worker_factory, earn)
    many, more = _queries(finance_client, path)

    assert more["count"] == 3 * body["count"]
    assert many == few


@pytest.mark.parametrize("path", ["/api/v1/payouts/", "/api/v1/payouts/earnings/"])
def test_a_workers_own_lists_cost_the_same_queries_for_n_and_3n_rows(db, payouts_inline, stripe_sandbox,
                                                                     ready_worker_factory, earn, client_for, path):
    worker = ready_worker_factory()
    earn(worker, cases=ROWS * 3)
    runs.payout_run_execute(run_id=runs.payout_run_create().pk)
    client = client_for(worker.user)
    few, body = _queries(client, path)

    for _ in range(2):
        earn(worker, cases=ROWS * 3)
        runs.payout_run_execute(run_id=runs.payout_run_create().pk)
    many, more = _queries(client, path)

    assert more["count"] > body["count"]
    assert many == few


def test_rate_card_history_costs_the_same_queries_for_n_and_3n_versions(db, finance_client):
    def put(base: int) -> None:
        card = finance_client.get("/api/v1/payouts/rate-card/").json()
        answer = finance_client.put("/api/v1/payouts/rate-card/", {
            "currency": card["currency"], "base_per_case": base, "csat_bonus": card["csat_bonus"],
            "hold_hours": card["hold_hours"], "minimum_payout": card["minimum_payout"]}, format="json")
        assert answer.status_code == 200, answer.content

    for base in range(501, 501 + ROWS):
        put(base)
    few, body = _queries(finance_client, "/api/v1/payouts/rate-card/history/")
    for base in range(601, 601 + 2 * ROWS):
        put(base)
    many, more = _queries(finance_client, "/api/v1/payouts/rate-card/history/")

    assert len(more["results"]) == len(body["results"]) + 2 * ROWS
    assert many == few

"""Every report list endpoint runs the same number of queries for N rows and for 3N rows."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories.workers import ShiftClaimFactory, ShiftFactory, WorkerFactory
from tests.reports.data import ReportData, at, build_report_data, make_earning, make_payout, make_ticket

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
_day = itertools.count(1)

# Path, query, and the queries it runs (the token's lookup included). Pinned: a new query per row
# would show as a different count at 3N, a new query per request as a different count here.
ENDPOINTS = [
    ("/api/v1/reports/payouts/", NOVEMBER, 7),
    ("/api/v1/reports/payouts/", {**NOVEMBER, "format": "csv"}, 5),
    ("/api/v1/reports/operations/", NOVEMBER, 28),
    ("/api/v1/reports/operations/", {**NOVEMBER, "format": "csv"}, 28),
    ("/api/v1/reports/payouts/breakdown/", {**NOVEMBER, "by": "day"}, 4),
    ("/api/v1/reports/payouts/breakdown/", {**NOVEMBER, "by": "week"}, 4),
    ("/api/v1/reports/payouts/breakdown/", {**NOVEMBER, "by": "shift", "format": "csv"}, 4),
    ("/api/v1/reports/payouts/workers/{ana}/", NOVEMBER, 4),
    ("/api/v1/reports/earnings/", NOVEMBER, 2),
    ("/api/v1/reports/annual-earnings/", {"year": "2026", "format": "json"}, 5),
    ("/api/v1/reports/annual-earnings/", {"year": "2026"}, 5),
]


def add_activity(data: ReportData, workers: int) -> None:
    """`workers` more workers, each with a rated ticket, case pay on a shift of their own, a CSAT
    bonus and a paid payout in November; and as many more earnings of Ana's (her drill-down)."""
    for _ in range(workers):
        day = f"11-{next(_day) % 28 + 1:02d}"
        worker = WorkerFactory(payout_account_status="ready", stripe_account_id=f"acct_more_{day}")
        claim = ShiftClaimFactory(shift=ShiftFactory(starts_at=at(day, "08:00"), ends_at=at(day, "12:00")),
                                  worker=worker, status="completed")
        ticket = make_ticket(created=at(day, "09:00"), status="resolved", worker=worker, first_response_after=50,
                             resolved=at(day, "09:20"), rating=5, rated=at(day, "09:30"))
        payout = make_payout(worker=worker, amount=600, status="paid", created=at(day, "11:00"),
                             paid=at(day, "11:00:05"), transfer_id=f"tr_more_{ticket.pk}")
        make_earning(worker=worker, ticket=ticket, amount=500, earned=at(day, "09:20"), status="paid",
                     payout=payout, claim_id=claim.pk)
        make_earning(worker=worker, ticket=ticket, amount=100, earned=at(day, "09:30"), status="paid",
                     kind="csat_bonus", payout=payout)
        theirs = make_ticket(created=at(day, "10:00"), status="resolved", worker=data.ana, first_response_after=9,
                             resolved=at(day, "10:05"))
        make_earning(worker=data.ana, ticket=theirs, amount=500, earned=at(day, "10:05"), status="available")


def queries(client, path: str, query: dict) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, query)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200, response.content
    return len(captured)


@pytest.mark.django_db
def test_report_endpoints_run_as_many_queries_for_3n_rows_as_for_n(finance_user, client_for):
    data = build_report_data()
    client = client_for(finance_user)
    add_activity(data, 5)
    with_n = {(path, str(query)): queries(client, path.format(ana=data.ana.pk), query)
              for path, query, _ in ENDPOINTS}

    add_activity(data, 10)
    with_3n = {(path, str(query)): queries(client, path.format(ana=data.ana.pk), query)
               for path, query, _ in ENDPOINTS}

    assert with_3n == with_n
    assert with_n == {(path, str(query)): expected for path, query, expected in ENDPOINTS}

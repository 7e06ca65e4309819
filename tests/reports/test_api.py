"""The payout and operations reports on a known data set: every figure computed by hand.

The data set and the arithmetic are in `data.py`; the range is November 2026.
"""

from __future__ import annotations

import csv
import io

import pytest

from tests.reports.data import ReportData, build_report_data

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}



@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    """Files the reports keep (latest reconciliation, exports) go to this test's own directory."""
    settings.VAR_DIR = tmp_path

@pytest.fixture
def report_data(db) -> ReportData:
    return build_report_data()


def row_for(rows, **match):
    found = [row for row in rows if all(row[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, rows)
    return found[0]


def test_percentiles_interpolate_between_the_closest_ranks(ops_client, skill_catalogue):
    from tests.reports.data import at, make_ticket

    for seconds in (3700, 5, 400, 20, 100, 40, 60):
        make_ticket(created=at("11-05", "10:00"), first_response_after=seconds)

    totals = ops_client.get("/api/v1/reports/operations/", {"from": "2026-11-05", "to": "2026-11-05"}).json()["totals"]

    # PostgreSQL's PERCENTILE_CONT: the median is the 4th of 7; p90 lies 0.4 of the way from 400 to 3700.
    assert (totals["first_response_median_seconds"], totals["first_response_p90_seconds"]) == (60.0, 1720.0)


def test_payout_report_per_worker_figures(finance_client, report_data):
    response = finance_client.get("/api/v1/reports/payouts/", NOVEMBER)

    assert response.status_code == 200
    body = response.json()
    assert body["currency"] == "eur"
    d = report_data
    # Ana: case pay t1 500 (paid), bonus t1 100 (paid), t2 500 (available), t9 500 (available),
    # t10 500 (voided); t7's December earning is outside. Paid: payout p1 of 600 on 11-20.
    # Ben: t3 625 (pending), t6 500 (in payout); p3 is only in transit; p2 (October) was partly
    # reversed (200) on 11-21. Cleo: no earnings, but payout p4 of 3,000 paid on 11-15.
    assert body["results"] == [
        {"worker": d.ana.pk, "worker_name": "Ana Silva", "currency": "eur", "cases_resolved": 3, "gross": 2100,
         "bonuses": 100, "voided": 500, "paid": 600, "reversed": 0, "outstanding": 1000, "payouts_count": 1,
         "stripe_account_id": "acct_ana", "country": "PT"},
        {"worker": d.ben.pk, "worker_name": "Ben Otto", "currency": "eur", "cases_resolved": 2, "gross": 1125,
         "bonuses": 0, "voided": 0, "paid": 0, "reversed": 200, "outstanding": 1125, "payouts_count": 0,
         "stripe_account_id": "acct_ben", "country": "DE"},
        {"worker": d.cleo.pk, "worker_name": "Cleo Dubois", "currency": "eur", "cases_resolved": 0, "gross": 0,
         "bonuses": 0, "voided": 0, "paid": 3000, "reversed": 0, "outstanding": 0, "payouts_count": 1,
         "stripe_account_id": "acct_cleo", "country": "FR"},
    ]
    assert body["totals"] == {
        "currency": "eur", "cases_resolved": 5, "gross": 3225, "bonuses": 100, "voided": 500, "paid": 3600,
        "reversed": 200, "outstanding": 2125, "payouts_count": 2, "workers": 3,
    }


def test_payout_report_single_day_is_inclusive(finance_client, report_data):
    body = finance_client.get("/api/v1/reports/payouts/", {"from": "2026-11-02", "to": "2026-11-02"}).json()

    assert [(r["worker"], r["gross"], r["bonuses"], r["cases_resolved"]) for r in body["results"]] == [
        (report_data.ana.pk, 600, 100, 1)
    ]


def test_payout_report_csv_is_the_json_rows(finance_client, report_data):
    json_body = finance_client.get("/api/v1/reports/payouts/", NOVEMBER).json()

    response = finance_client.get("/api/v1/reports/payouts/", {**NOVEMBER, "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="shiftline-payouts-20261101-20261130.csv"'
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "period_start", "period_end", "worker", "worker_name", "country", "stripe_account_id", "currency",
        "cases_resolved", "gross", "gross_formatted", "bonuses", "bonuses_formatted", "voided", "voided_formatted",
        "paid", "paid_formatted", "reversed", "reversed_formatted", "outstanding", "outstanding_formatted",
        "payouts_count",
    ]
    assert len(rows) == len(json_body["results"])
    for row, expected in zip(rows, json_body["results"], strict=True):
        assert row["period_start"] == "2026-11-01T00:00:00Z"
        assert row["period_end"] == "2026-12-01T00:00:00Z"
        for name in ("worker", "cases_resolved", "gross", "bonuses", "voided", "paid", "reversed", "outstanding",
                     "payouts_count"):
            assert int(row[name]) == expected[name], name
        for name in ("worker_name", "country", "stripe_account_id", "currency"):
            assert row[name] == expected[name]
        for name in ("gross", "bonuses", "voided", "paid", "reversed", "outstanding"):
            assert row[f"{name}_formatted"] == f"{expected[name] // 100}.{expected[name] % 100:02d}"
    ana = row_for(rows, worker_name="Ana Silva")
    assert (ana["gross_formatted"], ana["paid_formatted"]) == ("21.00", "6.00")


def test_operations_report_totals(ops_client, report_data):
    response = ops_client.get("/api/v1/reports/operations/", NOVEMBER)

    assert response.status_code == 200
    totals = response.json()["totals"]
    # Created in November: t1 t2 t3 t4 t5 t7 t9 t10. Resolved (and still resolved) in November:
    # t1 600 s, t2 86,400 s, t3 1,800 s, t6 5,400 s, t9 7,200 s. Abandoned: t5.
    # First responses of November's tickets: 5 20 40 60 100 400 3700 → median 60,
    # p90 at rank 5.4: 400 + 0.4 × 3,300 = 1,720. Resolutions sorted 600 1800 5400 7200 86400 →
    # median 5,400; p90 at rank 3.6: 7,200 + 0.6 × 79,200 = 54,720.
    # CSAT rated in November: 5 3 4 1 → 3.25. Cost: earnings not voided 500+100+500+625+500+500
    # = 2,725 over 5 resolved = 545.
    assert totals == {
        "tickets_created": 8, "tickets_resolved": 5, "tickets_abandoned": 1,
        "first_response_median_seconds": 60.0, "first_response_p90_seconds": 1720.0,
        "resolution_median_seconds": 5400.0, "resolution_p90_seconds": 54720.0,
        "csat_average": 3.25, "csat_count": 4, "case_cost": 2725, "cost_per_resolved_case": 545, "currency": "eur",
        "csat_distribution": {"1": 1, "2": 0, "3": 1, "4": 1, "5": 1},
    }


def test_operations_report_breakdowns(finance_client, report_data):
    body = finance_client.get("/api/v1/reports/operations/", NOVEMBER).json()

    assert len(body["by_day"]) == 30
    nov2 = row_for(body["by_day"], date="2026-11-02")
    # t1 and t2 created (first responses 20, 40 → median 30); t1 resolved; rated 5; earned 600.
    assert (nov2["tickets_created"], nov2["tickets_resolved"], nov2["first_response_median_seconds"],
            nov2["csat_average"], nov2["case_cost"], nov2["cost_per_resolved_case"]) == (2, 1, 30.0, 5.0, 600, 600)
    nov3 = row_for(body["by_day"], date="2026-11-03")
    # t3, t4 created; t2 (86,400 s) and t3 (1,800 s) resolved → median 44,100; CSAT 3 and 4;
    # earned 500 + 625 = 1,125 over 2 cases = 562.5 → 563 (half up).
    assert (nov3["tickets_created"], nov3["tickets_resolved"], nov3["resolution_median_seconds"],
            nov3["csat_average"], nov3["cost_per_resolved_case"]) == (2, 2, 44100.0, 3.5, 563)
    nov4 = row_for(body["by_day"], date="2026-11-04")
    assert (nov4["tickets_created"], nov4["cost_per_resolved_case"], nov4["csat_average"]) == (0, None, None)

    en = row_for(body["by_language"], language="en")
    de = row_for(body["by_language"], language="de")
    # English: created t1 t2 t5 t7 t9 t10; resolved t1 t2 t6 t9; cost 500+100+500+500+500 = 2,100 / 4.
    assert (en["tickets_created"], en["tickets_resolved"], en["tickets_abandoned"], en["cost_per_resolved_case"]) \
        == (6, 4, 1, 525)
    assert (de["tickets_created"], de["tickets_resolved"], de["cost_per_resolved_case"]) == (2, 1, 625)
    payments = row_for(body["by_topic"], topic="payments")
    # Payments: created t1 t3 t7; resolved t1 t3 t6; rated 5 4 1.
    assert (payments["tickets_created"], payments["tickets_resolved"], payments["csat_count"]) == (3, 3, 3)

    hours = {row["hour"]: row["tickets_created"] for row in body["by_hour"] if row["tickets_created"]}
    assert hours == {8: 1, 9: 1, 10: 2, 11: 1, 12: 1, 23: 2}
    assert [(b["bucket"], b["count"]) for b in body["first_response_distribution"]] == [
        ("<30s", 2), ("30s-1m", 1), ("1-2m", 2), ("2-5m", 0), ("5-15m", 1), ("15-60m", 0), (">=1h", 1),
    ]


def test_operations_report_csv_is_the_by_day_rows(ops_client, report_data):
    body = ops_client.get("/api/v1/reports/operations/", NOVEMBER).json()

    response = ops_client.get("/api/v1/reports/operations/", {**NOVEMBER, "format": "csv"})

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["date"] for row in rows] == [row["date"] for row in body["by_day"]]
    nov3 = row_for(rows, date="2026-11-03")
    assert (nov3["tickets_resolved"], nov3["resolution_median_seconds"], nov3["cost_per_resolved_case"],
            nov3["cost_per_resolved_case_formatted"], nov3["currency"]) == ("2", "44100.0", "563", "5.63", "eur")
    assert row_for(rows, date="2026-11-04")["csat_average"] == ""


def test_payout_breakdown_by_week(finance_client, report_data):
    response = finance_client.get("/api/v1/reports/payouts/breakdown/", {**NOVEMBER, "by": "week"})

    assert response.status_code == 200
    # ISO weeks touching November 2026 (the 1st is a Sunday). Week of 11-09 holds Cleo's payout of
    # Sunday 11-15; Ana's payout of 11-20 falls in the week of 11-16.
    assert [(r["week"], r["cases_resolved"], r["gross"], r["bonuses"], r["voided"], r["paid"], r["payouts_count"])
            for r in response.json()["results"]] == [
        ("2026-10-26", 1, 500, 0, 0, 0, 0),
        ("2026-11-02", 3, 1725, 100, 0, 0, 0),
        ("2026-11-09", 1, 1000, 0, 500, 3000, 1),
        ("2026-11-16", 0, 0, 0, 0, 600, 1),
        ("2026-11-23", 0, 0, 0, 0, 0, 0),
        ("2026-11-30", 0, 0, 0, 0, 0, 0),
    ]


def test_payout_breakdown_by_shift_and_by_day(finance_client, report_data):
    by_shift = finance_client.get("/api/v1/reports/payouts/breakdown/", {**NOVEMBER, "by": "shift"}).json()
    by_day = finance_client.get("/api/v1/reports/payouts/breakdown/", {**NOVEMBER, "by": "day"}).json()

    assert [(r["shift"], r["language"], r["cases_resolved"], r["gross"]) for r in by_shift["results"]] == [
        (report_data.shift.pk, "de", 1, 625),
        (None, None, 4, 2600),
    ]
    assert len(by_day["results"]) == 30
    assert sum(r["gross"] for r in by_day["results"]) == 3225
    assert row_for(by_day["results"], date="2026-11-03")["gross"] == 1125


def test_worker_statement_drills_down_to_earnings_and_tickets(finance_client, report_data):
    d = report_data
    response = finance_client.get(f"/api/v1/reports/payouts/workers/{d.ana.pk}/", NOVEMBER)

    assert response.status_code == 200
    body = response.json()
    assert body["worker_name"] == "Ana Silva"
    assert [(e["ticket_id"], e["kind"], e["status"], e["amount"]) for e in body["earnings"]] == [
        (d.tickets["t1"].pk, "case_pay", "paid", 500),
        (d.tickets["t1"].pk, "csat_bonus", "paid", 100),
        (d.tickets["t2"].pk, "case_pay", "available", 500),
        (d.tickets["t9"].pk, "case_pay", "available", 500),
        (d.tickets["t10"].pk, "case_pay", "voided", 500),
    ]
    assert [(p["id"], p["stripe_transfer_id"]) for p in body["payouts"]] == [(d.payouts["p1"].pk, "tr_ana_1")]
    assert finance_client.get("/api/v1/reports/payouts/workers/999999/", NOVEMBER).status_code == 404


def test_earnings_export_streams_one_line_per_earning(finance_client, report_data):
    response = finance_client.get("/api/v1/reports/earnings/", NOVEMBER)

    assert response.status_code == 200
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    # Seven earnings in November, in time order (Ben's t6 case pay of 11-01 00:30 first).
    assert [(r["ticket"], r["kind"], r["amount"]) for r in rows][:1] == [(str(report_data.tickets["t6"].pk),
                                                                          "case_pay", "500")]
    assert len(rows) == 7
    bonus = row_for(rows, kind="csat_bonus")
    assert bonus == {**bonus, "earned_at": "2026-11-02T10:15:00Z", "amount": "100", "amount_formatted": "1.00",
                     "currency": "eur", "status": "paid", "payout": str(report_data.payouts["p1"].pk),
                     "payout_status": "paid", "stripe_transfer_id": "tr_ana_1", "paid_at": "2026-11-20T12:00:00Z",
                     "worker_name": "Ana Silva", "country": "PT"}


def test_annual_earnings_export_for_tax_reporting(finance_client, report_data):
    response = finance_client.get("/api/v1/reports/annual-earnings/", {"year": "2026"})

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    figures = [(r["worker_name"], r["country"], r["gross_paid"], r["reversed"], r["net_paid"],
                r["nec_box1_nonemployee_compensation"], r["dac7_q4_consideration"], r["dac7_q4_activities"],
                r["dac7_q3_consideration"]) for r in rows]
    # Paid in 2026: Ana 600 (11-20); Ben 500 (10-25), 200 of it reversed on 11-21; Cleo 3,000.
    # Q4 activities: Ana's case pays t1 t2 t9 and t7 (December), t10 voided; Ben's t0 t3 t6.
    assert figures == [
        ("Ana Silva", "PT", "600", "0", "600", "6.00", "600", "4", "0"),
        ("Ben Otto", "DE", "500", "200", "300", "3.00", "500", "3", "0"),
        ("Cleo Dubois", "FR", "3000", "0", "3000", "30.00", "3000", "0", "0"),
    ]
    assert finance_client.get("/api/v1/reports/annual-earnings/", {"year": "twenty"}).json()["fields"] == {
        "year": ["A valid integer is required."]
    }


def test_large_export_runs_as_a_task_with_progress_and_a_download_link(finance_client, finance_user, client_for,
                                                                       report_data, settings, tmp_path):
    from tests.factories.workers import StaffFactory

    settings.VAR_DIR = tmp_path
    streamed = b"".join(finance_client.get("/api/v1/reports/earnings/", NOVEMBER).streaming_content).decode()

    response = finance_client.post("/api/v1/reports/exports/", {"kind": "earnings", **NOVEMBER}, format="json")

    assert response.status_code == 202
    body = response.json()
    # Celery runs eagerly in the tests: the task has finished by the time the 202 is sent.
    assert (body["status"], body["progress"], body["rows_done"], body["rows_total"]) == ("done", 100, 7, 7)
    status = finance_client.get(body["status_url"])
    assert status.json()["download_url"] == body["download_url"]
    download = finance_client.get(body["download_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="shiftline-earnings-20261101-20261130.csv"'
    assert b"".join(download.streaming_content).decode() == streamed
    # Someone else's export is not theirs to see.
    other = client_for(StaffFactory(role="finance"))
    assert other.get(body["status_url"]).status_code == 404
    bad = finance_client.post("/api/v1/reports/exports/", {"kind": "everything", **NOVEMBER}, format="json")
    assert (bad.status_code, list(bad.json()["fields"])) == (400, ["kind"])


def test_report_query_counts_do_not_grow_with_the_data(report_data, django_assert_num_queries):
    import datetime as dt

    from reports.selectors import operations, payouts
    from tests.reports.data import make_earning

    nov = {"day_from": dt.date(2026, 11, 1), "day_to": dt.date(2026, 11, 30)}
    # Rate card currency, earnings grouped by worker, payouts grouped by worker, the workers, and
    # the two totals aggregates.
    with django_assert_num_queries(6):
        payouts.payout_report(**nov)
    for ticket in ("t3", "t9"):
        make_earning(worker=report_data.cleo, ticket=report_data.tickets[ticket], amount=100, kind="csat_bonus",
                     earned=dt.datetime(2026, 11, 20, tzinfo=dt.UTC), status="pending")
    with django_assert_num_queries(6):
        assert len(payouts.payout_report(**nov)["results"]) == 3
    with django_assert_num_queries(27):
        operations.operations_report(**nov)

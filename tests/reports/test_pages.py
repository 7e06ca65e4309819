"""The dashboards render for the right roles, on the same figures as the API, with their charts' assets."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.reports.data import ReportData, build_report_data

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}



@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    """Files the reports keep (latest reconciliation, exports) go to this test's own directory."""
    settings.VAR_DIR = tmp_path

@pytest.fixture
def report_data(db) -> ReportData:
    return build_report_data()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_finance_dashboard_shows_the_report_figures(finance_user, report_data):
    response = signed_in(finance_user).get("/finance/dashboard/", NOVEMBER)

    assert response.status_code == 200
    html = response.content.decode()
    # Totals of the payout report (see test_reports_api): gross 32.25, paid 36.00, outstanding 21.25.
    assert 'data-figure="gross">32.25<' in html
    assert 'data-figure="paid">36.00<' in html
    assert 'data-figure="outstanding">21.25<' in html
    assert 'data-figure="cost-per-case">5.45<' in html
    assert "/api/v1/reports/payouts/?from=2026-11-01&amp;to=2026-11-30&amp;format=csv" in html
    assert f"/finance/dashboard/workers/{report_data.ana.pk}/" in html
    data = json.loads(html.split('<script id="report-data" type="application/json">')[1].split("</script>")[0])
    assert [(w["week"], w["paid"]) for w in data["payouts_per_week"]][2:4] == [("2026-11-09", 3000),
                                                                                ("2026-11-16", 600)]
    assert len(data["by_day"]) == 30


def test_ops_dashboard_for_ops_and_refused_to_workers(ops_user, worker, report_data):
    response = signed_in(ops_user).get("/ops/dashboard/", NOVEMBER)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-figure="created">8<' in html
    assert 'data-figure="resolved">5<' in html
    # First response median 60 s, p90 1,720 s (see test_reports_api).
    assert '>1 min 0 s<span class="muted"> / 28 min 40 s</span>' in html
    api = signed_in(ops_user).get("/api/v1/reports/operations/", NOVEMBER).json()
    for table, key in (("language-table", "language"), ("topic-table", "topic")):
        body = html.split(f'id="{table}"')[1].split("</table>")[0]
        assert body.count("<tr><td") == len(api[f"by_{key}"]) > 0
        for row in api[f"by_{key}"]:
            assert f'<td data-value="{row[key]}">{row[key]}</td>' in body
            assert f'data-value="{row["tickets_created"]}">{row["tickets_created"]}</td>' in body
    assert signed_in(ops_user).get("/finance/dashboard/", NOVEMBER).status_code == 403
    assert signed_in(worker.user).get("/ops/dashboard/", NOVEMBER).status_code == 403
    assert signed_in(worker.user).get("/finance/dashboard/", NOVEMBER).status_code == 403


@pytest.mark.django_db
def test_dashboards_send_anonymous_visitors_to_sign_in():
    response = Client().get("/finance/dashboard/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_bad_range_on_a_page_is_explained_not_a_500(finance_user, report_data):
    response = signed_in(finance_user).get("/finance/dashboard/", {"from": "2026-11-30", "to": "2026-11-01"})

    assert response.status_code == 200
    assert "Must be on or after" in response.content.decode()


def test_worker_statement_page_lists_earnings_with_ticket_links(finance_user, report_data):
    d = report_data
    response = signed_in(finance_user).get(f"/finance/dashboard/workers/{d.ana.pk}/", NOVEMBER)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/finance/dashboard/tickets/{d.tickets["t9"].pk}/"' in html
    assert "tr_ana_1" in html


def test_earning_drills_down_to_its_ticket(finance_user, ops_user, report_data):
    t1 = report_data.tickets["t1"]

    response = signed_in(finance_user).get(f"/finance/dashboard/tickets/{t1.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "5★" in html
    assert "csat_bonus" in html and "case_pay" in html
    assert "Ana Silva" in html
    assert signed_in(ops_user).get(f"/finance/dashboard/tickets/{t1.pk}/").status_code == 403
    assert signed_in(finance_user).get("/finance/dashboard/tickets/999999/").status_code == 404


@pytest.mark.django_db
def test_plotly_is_served_from_the_installed_package(finance_user):
    from importlib.metadata import version

    client = signed_in(finance_user)
    response = client.get(f"/reports/vendor/plotly-{version('plotly')}.min.js", HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/reports/vendor/plotly-0.0.0.min.js").status_code == 404


@pytest.mark.parametrize("span", [{"from": "9999-01-01", "to": "9999-12-31"},
                                  {"from": "0001-01-01", "to": "0001-12-31"}])
def test_far_dates_on_a_page_are_explained_not_a_500(finance_user, report_data, span):
    response = signed_in(finance_user).get("/finance/dashboard/", span)

    assert response.status_code == 200
    assert "Must be between 2000-01-01 and 2100-12-31." in response.content.decode()

"""Finance, in a real browser, opens the dashboard, changes the range, sees the charts, downloads the CSV."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory
from tests.reports.data import build_report_data

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHARTS = ["chart-payouts-week", "chart-cost-per-case", "chart-csat", "chart-frt", "chart-hourly"]


def test_finance_uses_the_dashboard(browser, asgi_server):
    data = build_report_data()
    StaffFactory(username="fiona", role="finance")
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(f"{asgi_server.url}/login/?next=/finance/dashboard/")
        page.get_by_label("Username").fill("fiona")
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        assert page.url.endswith("/finance/dashboard/")

        page.get_by_label("From", exact=True).fill("2026-11-01")
        page.get_by_label("To", exact=True).fill("2026-11-30")
        with page.expect_navigation():
            page.get_by_role("button", name="Show").click()

        assert "from=2026-11-01&to=2026-11-30" in page.url
        assert page.locator('[data-figure="gross"]').inner_text() == "32.25"
        assert page.locator('[data-figure="paid"]').inner_text() == "36.00"
        for chart in CHARTS:
            page.wait_for_selector(f"#{chart}[data-rendered='true'] svg.main-svg", timeout=15000)
        # Payouts per week: six weekly bars drawn from the report's figures.
        assert page.locator("#chart-payouts-week g.point").count() == 6

        names = page.locator("#payout-table tbody td:first-child")
        assert names.all_inner_texts() == ["Ana Silva", "Ben Otto", "Cleo Dubois"]
        page.get_by_role("button", name="Gross", exact=True).click()
        assert names.all_inner_texts() == ["Cleo Dubois", "Ben Otto", "Ana Silva"]
        assert page.locator("#payout-table th[aria-sort]").get_attribute("aria-sort") == "ascending"

        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download CSV").click()
        download = download_info.value
        assert download.suggested_filename == "shiftline-payouts-20261101-20261130.csv"
        rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
        assert [(int(r["worker"]), int(r["gross"]), r["paid_formatted"]) for r in rows] == [
            (data.ana.pk, 2100, "6.00"), (data.ben.pk, 1125, "0.00"), (data.cleo.pk, 0, "30.00"),
        ]
    finally:
        context.close()


def test_the_csv_streams_through_the_asgi_server(asgi_server):
    """Under uvicorn the CSV is streamed chunk by chunk (an async iterator), and equals the JSON."""
    data = build_report_data()
    finance = StaffFactory(username="finn", role="finance")
    token = httpx.post(f"{asgi_server.url}/api/v1/auth/token/",
                       json={"username": finance.username, "password": DEFAULT_PASSWORD}).json()["token"]
    headers = {"Authorization": f"Token {token}"}
    params = {"from": "2026-11-01", "to": "2026-11-30"}

    as_json = httpx.get(f"{asgi_server.url}/api/v1/reports/payouts/", params=params, headers=headers).json()
    with httpx.stream("GET", f"{asgi_server.url}/api/v1/reports/payouts/", params={**params, "format": "csv"},
                      headers=headers) as response:
        assert response.status_code == 200
        assert response.headers.get("content-length") is None  # streamed, not buffered
        text = response.read().decode()

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["worker"]) for r in rows] == [row["worker"] for row in as_json["results"]] == [
        data.ana.pk, data.ben.pk, data.cleo.pk]

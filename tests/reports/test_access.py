"""Who may read which report, and how a bad range is refused (400 `invalid`, naming the field)."""

from __future__ import annotations

import pytest

REPORTS = ["/api/v1/reports/payouts/", "/api/v1/reports/operations/", "/api/v1/reports/reconciliation/"]
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", REPORTS)
def test_reports_refuse_anonymous_callers(api_client, path):
    response = api_client.get(path, NOVEMBER)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.parametrize("path", REPORTS)
def test_reports_refuse_workers(worker_client, path):
    response = worker_client.get(path, NOVEMBER)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/reports/payouts/", "/api/v1/reports/reconciliation/"])
def test_ops_may_not_read_finance_reports(ops_client, path):
    response = ops_client.get(path, NOVEMBER)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.django_db
def test_ops_may_read_the_operations_report(ops_client):
    assert ops_client.get("/api/v1/reports/operations/", NOVEMBER).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/reports/payouts/", "/api/v1/reports/operations/"])
def test_finance_and_admin_read_reports(finance_client, admin_user, client_for, path):
    assert finance_client.get(path, NOVEMBER).status_code == 200
    assert client_for(admin_user).get(path, NOVEMBER).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", REPORTS)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-11-30"}, "from"),
        ({"from": "2026-11-01"}, "to"),
        ({"from": "2026-11-31", "to": "2026-12-01"}, "from"),
        ({"from": "2026-11-01", "to": "30/11/2026"}, "to"),
        ({"from": "20261101", "to": "2026-11-30"}, "from"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-01"}, "to"),
        ({**NOVEMBER, "format": "xml"}, "format"),
    ],
)
def test_bad_ranges_are_400_invalid(finance_client, path, params, field):
    response = finance_client.get(path, params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == [field]
    assert body["detail"]


@pytest.mark.django_db
def test_a_whole_leap_year_is_allowed(finance_client):
    response = finance_client.get("/api/v1/reports/payouts/", {"from": "2028-01-01", "to": "2028-12-31"})

    assert response.status_code == 200
    assert response.json()["totals"]["gross"] == 0

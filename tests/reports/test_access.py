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


FAR_SPANS = [{"from": "9999-01-01", "to": "9999-12-31"}, {"from": "0001-01-01", "to": "0001-12-31"}]
ENDPOINTS_WITH_A_RANGE = [
    *[(path, {}) for path in REPORTS],
    ("/api/v1/reports/payouts/", {"format": "csv"}),
    ("/api/v1/reports/operations/", {"format": "csv"}),
    ("/api/v1/reports/payouts/breakdown/", {"by": "day"}),
    ("/api/v1/reports/payouts/breakdown/", {"by": "shift", "format": "csv"}),
    ("/api/v1/reports/payouts/workers/{worker}/", {}),
    ("/api/v1/reports/earnings/", {}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "params"), ENDPOINTS_WITH_A_RANGE)
@pytest.mark.parametrize("span", FAR_SPANS)
def test_far_dates_are_400_invalid_naming_both_fields(finance_client, worker, path, params, span):
    response = finance_client.get(path.format(worker=worker.pk), {**params, **span})

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "detail": response.json()["detail"],
        "fields": {"from": ["Must be between 2000-01-01 and 2100-12-31."],
                   "to": ["Must be between 2000-01-01 and 2100-12-31."]},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("span", FAR_SPANS)
def test_far_dates_start_no_export(finance_client, settings, tmp_path, span):
    settings.VAR_DIR = tmp_path

    response = finance_client.post("/api/v1/reports/exports/", {"kind": "earnings", **span}, format="json")

    assert (response.status_code, sorted(response.json()["fields"])) == (400, ["from", "to"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_the_last_year_allowed_answers_an_empty_report(finance_client):
    response = finance_client.get("/api/v1/reports/payouts/", {"from": "2100-01-01", "to": "2100-12-31"})

    assert response.status_code == 200
    assert (response.json()["results"], response.json()["totals"]["gross"]) == ([], 0)

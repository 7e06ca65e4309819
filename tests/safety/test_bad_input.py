"""Bad input over HTTP answers a clear 4xx in the error shape and changes nothing (never a 500)."""

from __future__ import annotations

import pytest

from tickets.models import Ticket
from workers.models import Shift, ShiftTemplate

TICKET = {"name": "Ana", "email": "ana@example.com", "language": "en", "topic": "general", "message": "Hi"}
TEMPLATE = {"weekday": 1, "start_time": "09:00", "duration_minutes": 60, "capacity": 2, "language": "en"}
SHIFT = {"starts_at": "2031-03-04T10:00:00Z", "ends_at": "2031-03-04T12:00:00Z", "capacity": 3, "language": "en"}


@pytest.mark.parametrize("body", [
    "[" * 5_000 + "]" * 5_000,
    '{"name": ' * 5_000 + "1" + "}" * 5_000,
    '{"name": "Ana", "email": "ana@example.com", "language": "en", "topic": "general", "message": "x\\ud800"}',
    '{"name\\udc00": "Ana"}',
])
def test_bodies_python_can_decode_but_nothing_can_hold_are_malformed(api_client, db, body):
    response = api_client.post("/api/v1/tickets/", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"
    assert response.json()["detail"].startswith("JSON parse error")
    assert Ticket.objects.count() == 0


def test_a_valid_surrogate_pair_is_one_character_and_accepted(api_client, db):
    body = ('{"name": "Ana", "email": "ana@example.com", "language": "en", "topic": "general", '
            '"message": "thanks \\ud83d\\ude00"}')
    response = api_client.post("/api/v1/tickets/", data=body, content_type="application/json")

    assert response.status_code == 201
    assert Ticket.objects.get().messages.get(seq=1).body == "thanks \U0001F600"


@pytest.mark.parametrize("minutes", [5_000_000_000, 10**20, -(10**20)])
def test_template_durations_beyond_any_column_are_invalid(ops_client, minutes):
    response = ops_client.post("/api/v1/shift-templates/", dict(TEMPLATE, duration_minutes=minutes), format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "duration_minutes" in response.json()["fields"]
    assert ShiftTemplate.objects.count() == 0


@pytest.mark.parametrize("field", ["capacity", "weekday", "weeks_ahead"])
def test_template_integers_beyond_any_column_are_invalid(ops_client, field):
    response = ops_client.post("/api/v1/shift-templates/", dict(TEMPLATE, **{field: 2**70}), format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


@pytest.mark.parametrize(("path", "body", "model"), [
    ("/api/v1/shifts/", SHIFT, Shift), ("/api/v1/shift-templates/", TEMPLATE, ShiftTemplate)])
@pytest.mark.parametrize(("multiplier", "status"), [
    (None, 201), ("1.25", 201), ("NaN", 400), ("Infinity", 400), ("-Infinity", 400), ("1e400", 400)])
def test_rate_multiplier_missing_or_not_a_finite_number(ops_client, path, body, model, multiplier, status):
    payload = dict(body) if multiplier is None else dict(body, rate_multiplier=multiplier)
    response = ops_client.post(path, payload, format="json")

    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["rate_multiplier"] == (multiplier or "1.00")
    else:
        assert response.json()["code"] == "invalid" and list(response.json()["fields"]) == ["rate_multiplier"]
        assert model.objects.count() == 0


@pytest.mark.parametrize("report", ["payouts", "operations", "reconciliation"])
@pytest.mark.parametrize(("day_from", "day_to"), [("9999-01-01", "9999-12-31"), ("0001-01-01", "0001-12-31"),
                                                  ("9999-12-31", "9999-12-31")])
def test_reports_at_the_ends_of_the_calendar_are_invalid(finance_client, report, day_from, day_to):
    response = finance_client.get(f"/api/v1/reports/{report}/?from={day_from}&to={day_to}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and set(response.json()["fields"]) == {"from", "to"}

"""Weekly recurring shift templates: their shifts are published ahead, each slot once."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from workers import tasks
from workers.models import Shift, ShiftTemplate

pytestmark = pytest.mark.usefixtures("seed_data")


def template_body(**overrides) -> dict:
    body = {"weekday": 2, "start_time": "09:00", "timezone": "Europe/Lisbon", "duration_minutes": 240,
            "capacity": 6, "language": "en", "skills": ["payments"], "rate_multiplier": "1.10", "weeks_ahead": 2}
    body.update(overrides)
    return body


def test_template_publishes_the_coming_weeks(ops_client):
    response = ops_client.post("/api/v1/shift-templates/", template_body(), format="json")

    assert response.status_code == 201
    shifts = list(Shift.objects.order_by("starts_at"))
    assert response.json()["shifts"] == [s.pk for s in shifts]
    assert len(shifts) in (2, 3)  # two weeks ahead: two or three Wednesdays, depending on today
    lisbon = zoneinfo.ZoneInfo("Europe/Lisbon")
    for shift in shifts:
        local = shift.starts_at.astimezone(lisbon)
        assert (local.weekday(), local.hour, local.minute) == (2, 9, 0)
        assert shift.ends_at - shift.starts_at == dt.timedelta(hours=4)
        assert (shift.capacity, shift.language, str(shift.rate_multiplier)) == (6, "en", "1.10")
        assert list(shift.skills.values_list("code", flat=True)) == ["payments"]
        assert shift.starts_at > timezone.now()


def test_generation_is_idempotent(ops_client):
    ops_client.post("/api/v1/shift-templates/", template_body(), format="json")
    count = Shift.objects.count()

    assert tasks.generate_template_shifts() == 0
    assert Shift.objects.count() == count


def test_deactivated_template_publishes_nothing_more(ops_client):
    template_id = ops_client.post("/api/v1/shift-templates/", template_body(), format="json").json()["id"]
    published = Shift.objects.count()

    response = ops_client.post(f"/api/v1/shift-templates/{template_id}/deactivate/")
    ShiftTemplate.objects.filter(pk=template_id).update(weeks_ahead=6)  # would publish more if active

    assert response.status_code == 200
    assert response.json()["active"] is False
    assert tasks.generate_template_shifts() == 0
    assert Shift.objects.count() == published
    again = ops_client.post(f"/api/v1/shift-templates/{template_id}/deactivate/")
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"weekday": 7}, "weekday"), ({"timezone": "Nowhere/City"}, "timezone"), ({"duration_minutes": 10}, "duration"),
     ({"capacity": 0}, "capacity"), ({"language": "xx"}, "language"), ({"weeks_ahead": 9}, "weeks_ahead"),
     ({"start_time": "25:00"}, "start_time")],
)
def test_template_validation(ops_client, overrides, field):
    response = ops_client.post("/api/v1/shift-templates/", template_body(**overrides), format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert not ShiftTemplate.objects.exists()
    assert not Shift.objects.exists()


def test_templates_are_for_ops(worker_client):
    assert worker_client.post("/api/v1/shift-templates/", template_body(), format="json").status_code == 403
    assert worker_client.get("/api/v1/shift-templates/").status_code == 403


def test_template_without_multiplier_pays_the_base_rate(ops_client):
    body = template_body()
    del body["rate_multiplier"]

    response = ops_client.post("/api/v1/shift-templates/", body, format="json")

    assert response.status_code == 201
    assert (response.json()["rate_multiplier"], response.json()["max_rate_multiplier"]) == ("1.00", "1.00")
    assert {str(s.rate_multiplier) for s in Shift.objects.all()} == {"1.00"}


@pytest.mark.parametrize(("overrides", "field"), [
    ({"duration_minutes": 5_000_000_000}, "duration_minutes"), ({"duration_minutes": 10**20}, "duration_minutes"),
    ({"duration_minutes": 0}, "duration_minutes"), ({"rate_multiplier": "NaN"}, "rate_multiplier"),
])
def test_template_refuses_out_of_range_numbers(ops_client, overrides, field):
    response = ops_client.post("/api/v1/shift-templates/", template_body(**overrides), format="json")

    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["fields"])) == ("invalid", [field])
    assert not ShiftTemplate.objects.exists()
    assert not Shift.objects.exists()

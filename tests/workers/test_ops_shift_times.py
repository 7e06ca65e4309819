"""Ops type and read shift times in their own timezone, named on the page; a shift that ends
before it starts is told so in those words."""

from __future__ import annotations

import datetime as dt

from django.test import Client
from django.utils import timezone

from tests.factories.workers import StaffFactory
from workers.models import Shift


def _ops_client(zone: str) -> Client:
    client = Client()
    client.force_login(StaffFactory(role="ops"))
    client.cookies["tz"] = zone
    return client


def _fields(starts: str, ends: str) -> dict:
    return {"starts_at": starts, "ends_at": ends, "capacity": "3", "language": "en", "skills": ["general"],
            "rate_multiplier": "1.00"}


def test_ops_publish_a_shift_in_their_timezone_and_read_it_back_in_it(db):
    client = _ops_client("America/New_York")
    day = (timezone.now() + dt.timedelta(days=3)).date()

    response = client.post("/ops/shifts/", _fields(f"{day}T09:30", f"{day}T13:00"), follow=True)

    shift = Shift.objects.get()
    page = response.content.decode()
    new_york = dt.datetime.combine(day, dt.time(9, 30), tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert shift.starts_at == new_york  # December: EST, UTC-5
    assert "Starts (America/New York)" in page and "times in America/New York" in page
    assert f"{day:%a} {day.day} {day:%b %Y}, 09:30 America/New York" in page
    assert "13:00 America/New York" in page


def test_a_shift_ending_before_it_starts_says_exactly_that(db):
    client = _ops_client("Europe/Paris")
    day = (timezone.now() + dt.timedelta(days=3)).date()

    response = client.post("/ops/shifts/", _fields(f"{day}T14:00", f"{day}T09:00"))

    assert response.status_code == 400
    page = response.content.decode()
    assert "The end is before the start: a shift must end after it starts." in page
    assert "A shift lasts from 15 minutes to 12 hours." not in page
    assert not Shift.objects.exists()

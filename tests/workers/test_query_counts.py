"""Every list endpoint of the workers app answers in a fixed number of queries, whatever its length.

Each endpoint is read with N rows, then with 3N; both reads must run exactly the pinned number of
queries (token authentication included), so neither an N+1 nor a new query slips in unnoticed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories.workers import ShiftClaimFactory, ShiftFactory, StaffFactory, WorkerFactory
from workers.models import Role, ShiftEvent, ShiftTemplate, WorkerEvent, WorkerNotice

pytestmark = pytest.mark.usefixtures("seed_data")

N = 4


def _hours(hours: int) -> dt.datetime:
    return timezone.now().replace(microsecond=0) + dt.timedelta(hours=hours)


def _shifts(count: int, *, first_hour: int = 30) -> list:
    made = []
    for i in range(count):
        shift = ShiftFactory(starts_at=_hours(first_hour + 3 * i), ends_at=_hours(first_hour + 3 * i + 2),
                             skills=["payments"])
        ShiftEvent.objects.create(shift=shift, kind="rate_changed", data={"from": "1.00", "to": "1.10"})
        made.append(shift)
    return made


def add_workers(count: int, context: dict) -> None:
    for _ in range(count):
        WorkerFactory(languages=["en", "pt"], skills=["payments"])


def add_worker_events(count: int, context: dict) -> None:
    for _ in range(count):
        WorkerEvent.objects.create(worker=context["worker"], actor=context["ops"], kind="note")


def add_notices(count: int, context: dict) -> None:
    for shift in _shifts(count, first_hour=30 + 100 * len(context.setdefault("batches", []))):
        WorkerNotice.objects.create(worker=context["worker"], kind="shift_cancelled", shift=shift, message="Gone.")
    context["batches"].append(count)


def add_shifts(count: int, context: dict) -> None:
    _shifts(count, first_hour=30 + 100 * len(context.setdefault("batches", [])))
    context["batches"].append(count)


def add_claims(count: int, context: dict) -> None:
    for shift in _shifts(count, first_hour=30 + 100 * len(context.setdefault("batches", []))):
        ShiftClaimFactory(shift=shift, worker=context["worker"])
    context["batches"].append(count)


def add_templates(count: int, context: dict) -> None:
    for i in range(count):
        template = ShiftTemplate.objects.create(weekday=i % 7, start_time=dt.time(9, 0), duration=dt.timedelta(hours=4),
                                                capacity=3, language="en", weeks_ahead=1, created_by=context["ops"])
        template.skills.set(["payments"])
        for week in range(2):
            ShiftFactory(template=template, starts_at=_hours(1000 + 24 * 7 * week + 10 * template.pk),
                         ends_at=_hours(1004 + 24 * 7 * week + 10 * template.pk))


CASES = {
    # name: (caller, path, add rows, queries)
    "workers": ("ops", "/api/v1/workers/", add_workers, 3),
    "worker events": ("ops", "/api/v1/workers/{worker}/events/", add_worker_events, 4),
    "notices": ("worker", "/api/v1/workers/me/notices/", add_notices, 2),
    "shifts (worker)": ("worker", "/api/v1/shifts/", add_shifts, 2),
    "shifts available (worker)": ("worker", "/api/v1/shifts/?available=true", add_shifts, 2),
    "shifts (ops)": ("ops", "/api/v1/shifts/", add_shifts, 2),
    "my claims": ("worker", "/api/v1/shifts/mine/", add_claims, 4),
    "shift templates": ("ops", "/api/v1/shift-templates/", add_templates, 5),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_list_endpoint_query_count_does_not_grow_with_rows(name, client_for):
    caller, path, add_rows, queries = CASES[name]
    context = {"worker": WorkerFactory(languages=["en", "pt"], skills=["payments"]), "ops": StaffFactory(role=Role.OPS)}
    client = client_for(context["worker"].user if caller == "worker" else context["ops"])
    path = path.format(worker=context["worker"].pk)
    counts, lengths = [], []
    for rows in (N, 2 * N):  # N rows, then 3N
        add_rows(rows, context)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        assert response.status_code == 200
        counts.append(len(captured.captured_queries))
        lengths.append(len(response.json()["results"]))

    assert counts == [queries, queries]
    assert lengths[1] - lengths[0] == 2 * N

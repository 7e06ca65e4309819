"""`GET /api/v1/audit/` (API.md, "Accounts and security"): ops and admin only, newest first,
paginated, filters validated like bodies, read-only, and a fixed number of queries per page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kernel.audit.models import AuditAction, AuditEntry
from kernel.audit.services import record
from tests.factories.workers import StaffFactory, WorkerFactory
from workers.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries():
    """Three entries on three days, oldest first (the database stamps `at`: moved by SQL here is
    not possible, so each is recorded and its day compared to today)."""
    ops = StaffFactory(role=Role.OPS)
    worker = WorkerFactory()
    made = [
        record(AuditAction.WORKER_APPROVE, actor=ops, target=worker, ip="203.0.113.1",
               before={"status": "applied"}, after={"status": "approved"}),
        record(AuditAction.AUTH_LOGIN_FAILED, username="mallory", ip="198.51.100.2"),
        record(AuditAction.SHIFT_CREATE, actor=ops, object_type="workers.shift", object_id=7, after={"capacity": 3}),
    ]
    return ops, worker, made


@pytest.mark.parametrize("role", [Role.OPS, Role.ADMIN])
def test_ops_and_admin_read_the_trail_newest_first(role, entries, client_for):
    ops, worker, made = entries
    response = client_for(StaffFactory(role=role)).get("/api/v1/audit/")
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"]) == (3, None)
    assert [row["id"] for row in body["results"]] == [e.pk for e in reversed(made)]
    approve = body["results"][2]
    assert approve | {"at": None} == {
        "id": made[0].pk, "at": None, "actor": ops.pk, "actor_username": ops.username, "action": "worker.approve",
        "object_type": "workers.worker", "object_id": str(worker.pk), "ip": "203.0.113.1",
        "before": {"status": "applied"}, "after": {"status": "approved"}}
    assert dt.datetime.fromisoformat(approve["at"]).utcoffset() is not None


@pytest.mark.parametrize("role", [Role.WORKER, Role.FINANCE])
def test_others_are_refused(role, entries, client_for):
    user = WorkerFactory().user if role == Role.WORKER else StaffFactory(role=role)
    response = client_for(user).get("/api/v1/audit/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_anonymous_is_asked_to_authenticate(api_client):
    response = api_client.get("/api/v1/audit/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_no_method_changes_it(method, entries, client_for):
    _, _, made = entries
    response = getattr(client_for(StaffFactory(role=Role.ADMIN)), method)("/api/v1/audit/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert list(AuditEntry.objects.order_by("pk").values_list("pk", "action")) == [(e.pk, e.action) for e in made]


def test_filters_by_actor_action_and_days(entries, client_for):
    ops, _, made = entries
    client = client_for(StaffFactory(role=Role.OPS))
    today = dt.datetime.now(dt.UTC).date()

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/audit/?{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids(f"actor={ops.pk}") == [made[2].pk, made[0].pk]
    assert ids("action=auth.login_failed") == [made[1].pk]
    assert ids(f"actor={ops.pk}&action=shift.create") == [made[2].pk]
    assert ids(f"from={today}&to={today}") == [e.pk for e in reversed(made)]
    assert ids(f"to={today - dt.timedelta(days=1)}") == []
    assert ids(f"from={today + dt.timedelta(days=1)}") == []


@pytest.mark.parametrize(("query", "field"), [
    ("from=2026-02-30", "from"),
    ("from=yesterday", "from"),
    ("from=2026-03-02&to=2026-03-01", "to"),
    ("from=9999-01-01", "from"),
    ("actor=abc", "actor"),
    ("actor=99999999999999999999", "actor"),
    ("action=worker.delete_everything", "action"),
])
def test_bad_filters_are_invalid(query, field, client_for):
    response = client_for(StaffFactory(role=Role.OPS)).get(f"/api/v1/audit/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["fields"]


def test_paginated_like_every_list(client_for):
    for n in range(3):
        record(AuditAction.AUTH_LOGIN_FAILED, username=f"u{n}")
    body = client_for(StaffFactory(role=Role.OPS)).get("/api/v1/audit/?page_size=2").json()
    assert (body["count"], len(body["results"])) == (3, 2)
    assert body["next"].endswith("page=2&page_size=2") or "page=2" in body["next"]


def test_query_count_does_not_grow_with_entries(client_for):
    client = client_for(StaffFactory(role=Role.OPS))
    ops = StaffFactory(role=Role.OPS)
    counts = []
    for rows in (4, 8):  # 4 entries, then 12
        for _ in range(rows):
            record(AuditAction.SHIFT_CREATE, actor=ops, object_type="workers.shift", object_id=1)
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/api/v1/audit/")
        assert response.status_code == 200
        counts.append(len(captured.captured_queries))
    # token lookup, count, page
    assert counts == [3, 3]

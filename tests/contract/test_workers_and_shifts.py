"""API.md "Workers and vetting" and "Shifts": transitions and every claim/check-in error code."""

from __future__ import annotations

import concurrent.futures
import datetime as dt

import pytest

from tests.contract.helpers import apply, approved_worker, create_shift, error, iso, ok, page, staff

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_vetting_transitions(stack):
    url = stack.url
    ops = staff(url, "ops")
    applied, worker = apply(url)
    wid = applied["id"]

    error(ops.post(f"/api/v1/workers/{wid}/suspend/", {"reason": "spam"}), 409, "invalid_transition")
    approved = ok(ops.post(f"/api/v1/workers/{wid}/approve/", {}))
    assert approved["status"] == "approved"
    error(ops.post(f"/api/v1/workers/{wid}/approve/", {}), 409, "invalid_transition")
    error(ops.post(f"/api/v1/workers/{wid}/reject/", {"reason": "late"}), 409, "invalid_transition")
    assert ok(ops.post(f"/api/v1/workers/{wid}/suspend/", {"reason": "no-shows"}))["status"] == "suspended"
    assert ok(worker.get("/api/v1/workers/me/"))["status"] == "suspended"
    assert ok(ops.post(f"/api/v1/workers/{wid}/approve/", {}))["status"] == "approved"

    other, _ = apply(url)
    assert ok(ops.post(f"/api/v1/workers/{other['id']}/reject/", {"reason": "No experience."}))["status"] == "rejected"
    error(ops.post(f"/api/v1/workers/{other['id']}/approve/", {}), 409, "invalid_transition")

    # A worker sees themselves, not another worker (404); unknown ids are 404 for ops.
    assert ok(worker.get(f"/api/v1/workers/{wid}/"))["id"] == wid
    error(worker.get(f"/api/v1/workers/{other['id']}/"), 404)
    error(ops.get("/api/v1/workers/999999999/"), 404)
    error(ops.post("/api/v1/workers/999999999/approve/", {}), 404)


def test_claim_and_check_in_errors(stack):
    url = stack.url
    ops = staff(url, "ops")
    alice = approved_worker(url, ops, languages=["en"], skills=["general", "payments"])
    bob = approved_worker(url, ops, languages=["en"], skills=["general"])
    _, applicant = apply(url)

    later = create_shift(ops, start_in_minutes=180, hours=2, capacity=1)
    assert ok(alice.post(f"/api/v1/shifts/{later['id']}/claim/"), 201)["shift"] == later["id"]
    error(bob.post(f"/api/v1/shifts/{later['id']}/claim/"), 409, "shift_full")
    assert later["id"] not in [s["id"] for s in page(ok(bob.get("/api/v1/shifts/", params={"available": "true"})))]
    assert later["id"] in [s["id"] for s in page(ok(bob.get("/api/v1/shifts/")))]
    error(alice.post(f"/api/v1/shifts/{later['id']}/claim/"), 409, "already_claimed")
    error(applicant.post(f"/api/v1/shifts/{later['id']}/claim/"), 403, "worker_not_approved")
    assert ok(ops.get(f"/api/v1/shifts/{later['id']}/"))["seats_taken"] == 1

    overlapping = create_shift(ops, start_in_minutes=240, hours=2, capacity=5)
    error(alice.post(f"/api/v1/shifts/{overlapping['id']}/claim/"), 409, "shift_overlap")

    german = create_shift(ops, start_in_minutes=60, hours=1, language="de")
    error(alice.post(f"/api/v1/shifts/{german['id']}/claim/"), 403, "not_eligible")
    disputes = create_shift(ops, start_in_minutes=60, hours=1, skills=["payments"])
    error(bob.post(f"/api/v1/shifts/{disputes['id']}/claim/"), 403, "not_eligible")
    # A shift the worker is not eligible for is not theirs to see.
    error(alice.get(f"/api/v1/shifts/{german['id']}/"), 404)
    assert german["id"] not in [s["id"] for s in page(ok(alice.get("/api/v1/shifts/")))]
    error(alice.get("/api/v1/shifts/999999999/"), 404)

    # Check-in: only the claimant, only from 15 minutes before the start.
    error(alice.post(f"/api/v1/shifts/{later['id']}/check-in/"), 409, "outside_window")
    error(bob.post(f"/api/v1/shifts/{later['id']}/check-in/"), 409, "not_claimed")
    error(bob.post(f"/api/v1/shifts/{later['id']}/release/"), 409, "not_claimed")
    error(bob.post(f"/api/v1/shifts/{later['id']}/check-out/"), 409, "not_claimed")
    soon = create_shift(ops, start_in_minutes=10, hours=1, capacity=2)
    ok(bob.post(f"/api/v1/shifts/{soon['id']}/claim/"), 201)
    assert iso(ok(bob.post(f"/api/v1/shifts/{soon['id']}/check-in/"))["checked_in_at"])
    assert ok(bob.post(f"/api/v1/shifts/{soon['id']}/check-out/"))["checked_out_at"]

    # Release frees the seat (a late release inside the 2 h cut-off is still a release).
    released = ok(alice.post(f"/api/v1/shifts/{later['id']}/release/"))
    assert released["status"] in ("released", "late_released"), released
    assert ok(ops.get(f"/api/v1/shifts/{later['id']}/"))["seats_taken"] == 0
    assert ok(bob.post(f"/api/v1/shifts/{later['id']}/claim/"), 201)

    # A shift that has ended (made in the database: the API refuses to create one in the past).
    from workers.models import Shift

    ended = create_shift(ops, start_in_minutes=-4, hours=0.25)
    now = dt.datetime.now(dt.UTC)
    Shift.objects.filter(pk=ended["id"]).update(starts_at=now - dt.timedelta(hours=3),
                                                ends_at=now - dt.timedelta(hours=1))
    error(alice.post(f"/api/v1/shifts/{ended['id']}/claim/"), 409, "shift_ended")


def test_capacity_holds_under_concurrent_claims(stack):
    url = stack.url
    ops = staff(url, "ops")
    workers = [approved_worker(url, ops) for _ in range(4)]
    shift = create_shift(ops, start_in_minutes=300, hours=2, capacity=2)

    def claim(worker):
        return worker.post(f"/api/v1/shifts/{shift['id']}/claim/")

    with concurrent.futures.ThreadPoolExecutor(len(workers)) as pool:
        responses = list(pool.map(claim, workers))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 201, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            error(response, 409, "shift_full")
    assert ok(ops.get(f"/api/v1/shifts/{shift['id']}/"))["seats_taken"] == 2

"""Reading workers and vetting them: list, detail, me, approve, reject, suspend (reinstate)."""

from __future__ import annotations

import pytest
from django.db import transaction

from kernel.outbox.models import OutboxEvent
from workers.models import ClaimStatus, ShiftWaitlistEntry, Worker, WorkerEvent


def test_ops_lists_workers_filtered_by_status(ops_client, worker_factory):
    applied = worker_factory(status="applied")
    worker_factory(status="approved")

    response = ops_client.get("/api/v1/workers/?status=applied")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [w["id"] for w in body["results"]] == [applied.pk]
    assert body["next"] is None


def test_worker_list_refuses_bad_status_filter(ops_client, db):
    response = ops_client.get("/api/v1/workers/?status=sleeping")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == ["status"]


def test_worker_list_is_for_ops_only(worker_client, finance_client, api_client):
    assert worker_client.get("/api/v1/workers/").status_code == 403
    assert finance_client.get("/api/v1/workers/").status_code == 403
    response = api_client.get("/api/v1/workers/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_worker_detail_shape(ops_client, worker_factory):
    worker = worker_factory(languages=["en", "de"], skills=["refunds", "general"])

    response = ops_client.get(f"/api/v1/workers/{worker.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("id", "username", "full_name", "status", "languages", "skills",
                                 "quality_score", "reliability_score", "payout_account_status",
                                 "stripe_account_id")} == {
        "id": worker.pk, "username": worker.user.username, "full_name": worker.full_name, "status": "approved",
        "languages": ["de", "en"], "skills": ["general", "refunds"], "quality_score": 0.0,
        "reliability_score": 100.0, "payout_account_status": "none", "stripe_account_id": "",
    }


def test_worker_reads_themself_but_not_another(worker, worker_client, worker_factory):
    other = worker_factory()

    assert worker_client.get(f"/api/v1/workers/{worker.pk}/").json()["id"] == worker.pk
    assert worker_client.get("/api/v1/workers/me/").json()["id"] == worker.pk
    response = worker_client.get(f"/api/v1/workers/{other.pk}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_unknown_worker_is_404(ops_client, db):
    assert ops_client.get("/api/v1/workers/999999/").status_code == 404


def test_me_is_for_workers(ops_client):
    assert ops_client.get("/api/v1/workers/me/").status_code == 403


def test_approve_applied_worker(ops_client, ops_user, worker_factory):
    worker = worker_factory(status="applied")

    response = ops_client.post(f"/api/v1/workers/{worker.pk}/approve/", {"reason": "Great quiz"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    event = WorkerEvent.objects.get(worker=worker)
    assert (event.kind, event.actor_id, event.from_status, event.to_status, event.reason) == (
        "approved", ops_user.pk, "applied", "approved", "Great quiz")


def test_reject_applied_worker_needs_reason(ops_client, worker_factory):
    worker = worker_factory(status="applied")

    refused = ops_client.post(f"/api/v1/workers/{worker.pk}/reject/", {}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()["fields"]) == ["reason"]
    worker.refresh_from_db()
    assert worker.status == "applied"
    assert not WorkerEvent.objects.filter(worker=worker).exists()

    response = ops_client.post(f"/api/v1/workers/{worker.pk}/reject/", {"reason": "No experience"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert WorkerEvent.objects.get(worker=worker).reason == "No experience"


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("approved", "approve"), ("rejected", "approve"),
        ("approved", "reject"), ("suspended", "reject"), ("rejected", "reject"),
        ("applied", "suspend"), ("rejected", "suspend"), ("suspended", "suspend"),
    ],
)
def test_transition_not_allowed_is_409(ops_client, worker_factory, status, action):
    worker = worker_factory(status=status)

    response = ops_client.post(f"/api/v1/workers/{worker.pk}/{action}/", {"reason": "because"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    worker.refresh_from_db()
    assert worker.status == status
    assert not WorkerEvent.objects.filter(worker=worker).exists()


def test_decisions_are_for_ops_only(worker_client, finance_client, worker_factory):
    applicant = worker_factory(status="applied")

    assert worker_client.post(f"/api/v1/workers/{applicant.pk}/approve/").status_code == 403
    assert finance_client.post(f"/api/v1/workers/{applicant.pk}/approve/").status_code == 403
    applicant.refresh_from_db()
    assert applicant.status == "applied"


def test_decision_on_unknown_worker_is_404(ops_client, db):
    assert ops_client.post("/api/v1/workers/424242/approve/").status_code == 404


def test_suspend_ends_open_claims_frees_seats_and_records_outbox(
        ops_client, ops_user, worker, claim_factory, shift_factory, in_hours, django_capture_on_commit_callbacks):
    future = claim_factory(worker=worker)
    running = claim_factory(worker=worker, shift=shift_factory(starts_at=in_hours(-1), ends_at=in_hours(1)),
                            checked_in_at=in_hours(-1))
    past = claim_factory(worker=worker, shift=shift_factory(starts_at=in_hours(-5), ends_at=in_hours(-4)),
                         status=ClaimStatus.COMPLETED)
    full = shift_factory(capacity=1)
    claim_factory(shift=full)
    ShiftWaitlistEntry.objects.create(shift=full, worker=worker)

    with django_capture_on_commit_callbacks(execute=False):
        response = ops_client.post(f"/api/v1/workers/{worker.pk}/suspend/", {"reason": "Rude to customers"},
                                   format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "suspended"
    for claim in (future, running, past):
        claim.refresh_from_db()
        claim.shift.refresh_from_db()
    assert (future.status, future.shift.seats_taken) == ("cancelled", 0)
    assert (running.status, running.shift.seats_taken) == ("cancelled", 0)
    assert running.checked_out_at is not None
    assert (past.status, past.released_at) == ("completed", None)
    assert ShiftWaitlistEntry.objects.get(worker=worker).status == "left"
    event = OutboxEvent.objects.get(topic="worker.suspended")
    assert event.payload == {"worker_id": worker.pk}
    audit = WorkerEvent.objects.get(worker=worker)
    assert (audit.kind, audit.actor_id, audit.reason) == ("suspended", ops_user.pk, "Rude to customers")


def test_reinstate_is_approve_from_suspended(ops_client, worker_factory):
    worker = worker_factory(status="suspended")

    response = ops_client.post(f"/api/v1/workers/{worker.pk}/approve/", {"reason": "Appeal accepted"},
                               format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert WorkerEvent.objects.get(worker=worker).kind == "reinstated"


def test_worker_events_listed_for_ops(ops_client, worker_factory):
    worker = worker_factory(status="applied")
    ops_client.post(f"/api/v1/workers/{worker.pk}/approve/", {"reason": "ok"}, format="json")
    ops_client.post(f"/api/v1/workers/{worker.pk}/suspend/", {"reason": "late"}, format="json")

    response = ops_client.get(f"/api/v1/workers/{worker.pk}/events/")

    assert [(e["kind"], e["reason"]) for e in response.json()["results"]] == [("suspended", "late"), ("approved", "ok")]


def test_suspended_workers_cannot_claim(client_for, worker_factory, shift_factory):
    worker = worker_factory(status="suspended")
    shift = shift_factory()

    response = client_for(worker.user).post(f"/api/v1/shifts/{shift.pk}/claim/")

    assert response.status_code == 403
    assert response.json()["code"] == "worker_not_approved"
    shift.refresh_from_db()
    assert shift.seats_taken == 0
    assert Worker.objects.get(pk=worker.pk).claims.count() == 0


def test_transaction_rolls_back_suspension_on_error(worker, ops_user):
    from workers.services.vetting import worker_suspend

    with pytest.raises(RuntimeError), transaction.atomic():
        worker_suspend(worker_id=worker.pk, actor=ops_user, reason="x")
        raise RuntimeError
    worker.refresh_from_db()
    assert worker.status == "approved"
    assert not OutboxEvent.objects.exists()

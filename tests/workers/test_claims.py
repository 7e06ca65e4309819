"""Claiming, releasing, checking in and out: every rule and refusal of API.md "Shifts"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from kernel.outbox.models import OutboxEvent
from workers.models import Shift, ShiftClaim


def claim_url(shift, action="claim"):
    return f"/api/v1/shifts/{shift.pk}/{action}/"


def assert_refused(response, status, code, shift, seats_taken, claims):
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert isinstance(response.json()["detail"], str)
    shift.refresh_from_db()
    assert shift.seats_taken == seats_taken
    assert ShiftClaim.objects.filter(shift=shift).count() == claims


def test_claim_takes_a_seat(worker, worker_client, shift_factory):
    shift = shift_factory(capacity=2, rate_multiplier=Decimal("1.25"))

    response = worker_client.post(claim_url(shift))

    assert response.status_code == 201
    body = response.json()
    claim = ShiftClaim.objects.get()
    assert body["id"] == claim.pk
    assert (body["shift"], body["worker"], body["status"], body["rate_multiplier"]) == (
        shift.pk, worker.pk, "active", "1.25")
    assert body["checked_in_at"] is None
    shift.refresh_from_db()
    assert shift.seats_taken == 1
    assert worker_client.get(f"/api/v1/shifts/{shift.pk}/").json()["my_claim"] == claim.pk


def test_claim_keeps_multiplier_of_the_moment(worker_client, shift_factory):
    shift = shift_factory(rate_multiplier=Decimal("1.10"), max_rate_multiplier=Decimal("2.00"))
    worker_client.post(claim_url(shift))

    Shift.objects.filter(pk=shift.pk).update(rate_multiplier=Decimal("1.60"))

    assert ShiftClaim.objects.get().rate_multiplier == Decimal("1.10")


def test_claim_refused_when_shift_full(worker_client, shift_factory, claim_factory):
    shift = shift_factory(capacity=1)
    claim_factory(shift=shift)

    assert_refused(worker_client.post(claim_url(shift)), 409, "shift_full", shift, 1, 1)


def test_claim_refused_when_already_claimed(worker, worker_client, shift_factory, claim_factory):
    shift = shift_factory(capacity=3)
    claim_factory(shift=shift, worker=worker)

    assert_refused(worker_client.post(claim_url(shift)), 409, "already_claimed", shift, 1, 1)


def test_claim_refused_when_overlapping(worker, worker_client, shift_factory, claim_factory, in_hours):
    held = shift_factory(starts_at=in_hours(3), ends_at=in_hours(5))
    claim_factory(shift=held, worker=worker)
    overlapping = shift_factory(starts_at=in_hours(4), ends_at=in_hours(6))
    back_to_back = shift_factory(starts_at=in_hours(5), ends_at=in_hours(6))

    assert_refused(worker_client.post(claim_url(overlapping)), 409, "shift_overlap", overlapping, 0, 0)
    assert worker_client.post(claim_url(back_to_back)).status_code == 201


def test_claim_refused_when_shift_ended(worker_client, shift_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(-3), ends_at=in_hours(-1))

    assert_refused(worker_client.post(claim_url(shift)), 409, "shift_ended", shift, 0, 0)


def test_running_shift_can_still_be_claimed(worker_client, shift_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(-1), ends_at=in_hours(1))

    assert worker_client.post(claim_url(shift)).status_code == 201


def test_claim_refused_for_worker_not_approved(client_for, worker_factory, shift_factory):
    shift = shift_factory()
    for status in ("applied", "rejected", "suspended"):
        worker = worker_factory(status=status)
        assert_refused(client_for(worker.user).post(claim_url(shift)), 403, "worker_not_approved", shift, 0, 0)


def test_suspended_worker_claiming_an_unknown_shift_is_told_they_are_not_approved(client_for, worker_factory):
    worker = worker_factory(status="suspended")

    response = client_for(worker.user).post("/api/v1/shifts/987654321/claim/")

    assert (response.status_code, response.json()["code"]) == (403, "worker_not_approved")
    assert not ShiftClaim.objects.exists()


def test_claim_asking_for_html_is_refused_with_406_and_takes_no_seat(worker, worker_client, shift_factory):
    shift = shift_factory()

    response = worker_client.post(claim_url(shift), HTTP_ACCEPT="text/html")

    assert (response.status_code, response.json()["code"]) == (406, "not_acceptable")
    assert not ShiftClaim.objects.filter(worker=worker).exists()


def test_claim_refused_when_language_does_not_match(client_for, worker_factory, shift_factory):
    worker = worker_factory(languages=["pt"])
    shift = shift_factory(language="en")

    assert_refused(client_for(worker.user).post(claim_url(shift)), 403, "not_eligible", shift, 0, 0)


def test_claim_refused_when_a_skill_is_missing(client_for, worker_factory, shift_factory):
    worker = worker_factory(skills=["payments"])
    shift = shift_factory(skills=["payments", "disputes"])

    assert_refused(client_for(worker.user).post(claim_url(shift)), 403, "not_eligible", shift, 0, 0)


def test_claim_for_staff_and_anonymous_refused(ops_client, api_client, shift_factory):
    shift = shift_factory()

    assert_refused(ops_client.post(claim_url(shift)), 403, "permission_denied", shift, 0, 0)
    assert_refused(api_client.post(claim_url(shift)), 401, "not_authenticated", shift, 0, 0)


def test_claim_answer_has_every_declared_field_in_api_formats(worker, worker_client, shift_factory):
    from workers.api import ClaimOutput

    shift = shift_factory(capacity=3, rate_multiplier=Decimal("1.5"))

    body = worker_client.post(claim_url(shift)).json()

    assert set(body) == set(ClaimOutput().fields)
    claim = ShiftClaim.objects.get()
    assert body["claimed_at"] == claim.claimed_at.isoformat().replace("+00:00", "Z")
    assert body["starts_at"] == shift.starts_at.isoformat().replace("+00:00", "Z")
    assert (body["released_at"], body["late_release"]) == (None, False)
    assert body["shift_detail"] == {
        "id": shift.pk, "starts_at": body["starts_at"], "ends_at": body["ends_at"], "language": shift.language,
        "capacity": 3, "seats_taken": 1, "rate_multiplier": "1.50", "status": "published"}


def test_claim_unknown_shift_is_404(worker_client, db):
    assert worker_client.post("/api/v1/shifts/987654/claim/").status_code == 404


def test_release_frees_the_seat(worker_client, worker, shift_factory, claim_factory):
    shift = shift_factory(capacity=2)
    claim = claim_factory(shift=shift, worker=worker)

    response = worker_client.post(claim_url(shift, "release"))

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["status"], response.json()["late_release"]) == (
        claim.pk, "released", False)
    shift.refresh_from_db()
    assert shift.seats_taken == 0
    worker.refresh_from_db()
    assert worker.reliability_score == Decimal("100")
    assert worker_client.post(claim_url(shift)).status_code == 201


def test_release_after_cutoff_is_late(worker_client, worker, shift_factory, claim_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(1.5), ends_at=in_hours(3))
    claim_factory(shift=shift, worker=worker)

    response = worker_client.post(claim_url(shift, "release"))

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["late_release"]) == ("late_released", True)
    shift.refresh_from_db()
    assert shift.seats_taken == 0
    worker.refresh_from_db()
    assert worker.reliability_score == Decimal("80.00")


def test_release_without_claim_refused(worker_client, shift_factory, claim_factory):
    shift = shift_factory()
    claim_factory(shift=shift)

    assert_refused(worker_client.post(claim_url(shift, "release")), 409, "not_claimed", shift, 1, 1)


def test_release_refused_when_checked_in(worker_client, worker, shift_factory, claim_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(-0.5), ends_at=in_hours(1))
    claim_factory(shift=shift, worker=worker, checked_in_at=timezone.now())

    assert_refused(worker_client.post(claim_url(shift, "release")), 409, "checked_in", shift, 1, 1)


def test_check_in_within_window_records_outbox(worker_client, worker, shift_factory, claim_factory, in_hours):
    shift = shift_factory(starts_at=timezone.now() + dt.timedelta(minutes=14), ends_at=in_hours(2))
    claim = claim_factory(shift=shift, worker=worker)

    response = worker_client.post(claim_url(shift, "check-in"))

    assert response.status_code == 200
    assert response.json()["checked_in_at"] is not None
    assert response.json()["status"] == "active"
    event = OutboxEvent.objects.get(topic="worker.checked_in")
    assert event.payload == {"worker_id": worker.pk, "claim_id": claim.pk}
    again = worker_client.post(claim_url(shift, "check-in"))
    assert again.status_code == 200
    assert again.json()["checked_in_at"] == response.json()["checked_in_at"]
    assert OutboxEvent.objects.filter(topic="worker.checked_in").count() == 1


def test_check_in_refused_too_early(worker_client, worker, shift_factory, claim_factory, in_hours):
    shift = shift_factory(starts_at=timezone.now() + dt.timedelta(minutes=16), ends_at=in_hours(2))
    claim = claim_factory(shift=shift, worker=worker)

    assert_refused(worker_client.post(claim_url(shift, "check-in")), 409, "outside_window", shift, 1, 1)
    claim.refresh_from_db()
    assert claim.checked_in_at is None
    assert not OutboxEvent.objects.exists()


def test_check_in_refused_after_end(worker_client, worker, shift_factory, claim_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(-2), ends_at=in_hours(-0.01))
    claim_factory(shift=shift, worker=worker)

    assert_refused(worker_client.post(claim_url(shift, "check-in")), 409, "outside_window", shift, 1, 1)


def test_check_in_refused_without_claim(worker_client, shift_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(-0.1), ends_at=in_hours(1))

    assert_refused(worker_client.post(claim_url(shift, "check-in")), 409, "not_claimed", shift, 0, 0)


def test_check_out_completes_claim_and_records_outbox(worker_client, worker, shift_factory, claim_factory,
                                                      in_hours):
    shift = shift_factory(starts_at=in_hours(-1), ends_at=in_hours(1))
    claim = claim_factory(shift=shift, worker=worker, checked_in_at=in_hours(-1))

    response = worker_client.post(claim_url(shift, "check-out"))

    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.json()["checked_out_at"] is not None
    assert OutboxEvent.objects.get(topic="worker.checked_out").payload == {"worker_id": worker.pk,
                                                                           "claim_id": claim.pk}
    shift.refresh_from_db()
    assert shift.seats_taken == 1
    refused = worker_client.post(claim_url(shift))
    assert refused.json()["code"] == "already_claimed"


def test_check_out_refused_when_not_checked_in(worker_client, worker, shift_factory, claim_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(-0.1), ends_at=in_hours(1))
    claim = claim_factory(shift=shift, worker=worker)

    assert_refused(worker_client.post(claim_url(shift, "check-out")), 409, "not_checked_in", shift, 1, 1)
    claim.refresh_from_db()
    assert claim.status == "active"
    assert not OutboxEvent.objects.exists()


def test_check_out_refused_without_claim(worker_client, shift_factory):
    shift = shift_factory()

    assert_refused(worker_client.post(claim_url(shift, "check-out")), 409, "not_claimed", shift, 0, 0)


def test_my_claims_lists_callers_claims(worker, worker_client, shift_factory, claim_factory, in_hours):
    later = claim_factory(worker=worker, shift=shift_factory(starts_at=in_hours(10), ends_at=in_hours(11)))
    sooner = claim_factory(worker=worker, shift=shift_factory(starts_at=in_hours(3), ends_at=in_hours(4)))
    claim_factory()

    response = worker_client.get("/api/v1/shifts/mine/")

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [sooner.pk, later.pk]
    assert response.json()["results"][0]["shift_detail"]["id"] == sooner.shift_id
    assert worker_client.get("/api/v1/shifts/mine/?status=released").json()["count"] == 0
    assert worker_client.get("/api/v1/shifts/mine/?status=bogus").status_code == 400


def test_claim_query_count(worker_client, shift_factory, django_assert_max_num_queries):
    shift = shift_factory(skills=["payments"])

    with django_assert_max_num_queries(10):
        assert worker_client.post(claim_url(shift)).status_code == 201

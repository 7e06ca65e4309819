"""The waitlist of a full shift: a freed seat goes to the first one waiting, never to two people."""

from __future__ import annotations

from workers.models import ShiftClaim, ShiftWaitlistEntry, WorkerNotice


def test_join_waitlist_of_full_shift(worker, worker_client, shift_factory, claim_factory):
    shift = shift_factory(capacity=1)
    claim_factory(shift=shift)

    response = worker_client.post(f"/api/v1/shifts/{shift.pk}/waitlist/")

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["position"], response.json()["worker"]) == (
        "waiting", 1, worker.pk)
    assert worker_client.get(f"/api/v1/shifts/{shift.pk}/").json()["waitlisted"] is True


def test_join_refused_when_seats_free(worker_client, shift_factory):
    shift = shift_factory(capacity=2)

    response = worker_client.post(f"/api/v1/shifts/{shift.pk}/waitlist/")

    assert response.status_code == 409
    assert response.json()["code"] == "shift_not_full"
    assert not ShiftWaitlistEntry.objects.exists()


def test_join_refused_twice(worker_client, shift_factory, claim_factory):
    shift = shift_factory(capacity=1)
    claim_factory(shift=shift)
    worker_client.post(f"/api/v1/shifts/{shift.pk}/waitlist/")

    response = worker_client.post(f"/api/v1/shifts/{shift.pk}/waitlist/")

    assert response.status_code == 409
    assert response.json()["code"] == "already_waitlisted"
    assert ShiftWaitlistEntry.objects.count() == 1


def test_join_refused_when_not_eligible(client_for, worker_factory, shift_factory, claim_factory):
    shift = shift_factory(capacity=1, language="de")
    claim_factory(shift=shift, worker=worker_factory(languages=["de"]))
    english_only = worker_factory(languages=["en"])

    response = client_for(english_only.user).post(f"/api/v1/shifts/{shift.pk}/waitlist/")

    assert response.status_code == 403
    assert response.json()["code"] == "not_eligible"


def test_leave_waitlist(worker_client, shift_factory, claim_factory):
    shift = shift_factory(capacity=1)
    claim_factory(shift=shift)
    worker_client.post(f"/api/v1/shifts/{shift.pk}/waitlist/")

    response = worker_client.delete(f"/api/v1/shifts/{shift.pk}/waitlist/")

    assert response.status_code == 200
    assert response.json()["status"] == "left"
    again = worker_client.delete(f"/api/v1/shifts/{shift.pk}/waitlist/")
    assert again.status_code == 409
    assert again.json()["code"] == "not_waitlisted"


def test_release_gives_seat_to_first_waiting(client_for, worker_factory, shift_factory, claim_factory):
    shift = shift_factory(capacity=1)
    holder = claim_factory(shift=shift).worker
    first, second = worker_factory(), worker_factory()
    client_for(first.user).post(f"/api/v1/shifts/{shift.pk}/waitlist/")
    client_for(second.user).post(f"/api/v1/shifts/{shift.pk}/waitlist/")

    response = client_for(holder.user).post(f"/api/v1/shifts/{shift.pk}/release/")

    assert response.status_code == 200
    shift.refresh_from_db()
    assert shift.seats_taken == 1
    active = ShiftClaim.objects.get(shift=shift, status="active")
    assert active.worker_id == first.pk
    assert ShiftWaitlistEntry.objects.get(worker=first).status == "promoted"
    assert ShiftWaitlistEntry.objects.get(worker=second).status == "waiting"
    assert WorkerNotice.objects.get(worker=first).kind == "waitlist_promoted"
    assert client_for(second.user).get(f"/api/v1/shifts/{shift.pk}/waitlist/").status_code == 405


def test_promotion_skips_worker_who_now_overlaps(client_for, worker_factory, shift_factory, claim_factory, in_hours):
    shift = shift_factory(capacity=1, starts_at=in_hours(5), ends_at=in_hours(7))
    holder = claim_factory(shift=shift).worker
    busy, free = worker_factory(), worker_factory()
    client_for(busy.user).post(f"/api/v1/shifts/{shift.pk}/waitlist/")
    client_for(free.user).post(f"/api/v1/shifts/{shift.pk}/waitlist/")
    claim_factory(worker=busy, shift=shift_factory(starts_at=in_hours(6), ends_at=in_hours(8)))

    client_for(holder.user).post(f"/api/v1/shifts/{shift.pk}/release/")

    assert ShiftClaim.objects.get(shift=shift, status="active").worker_id == free.pk
    assert ShiftWaitlistEntry.objects.get(worker=busy).status == "expired"


def test_release_with_empty_waitlist_frees_the_seat(worker, worker_client, shift_factory, claim_factory):
    shift = shift_factory(capacity=1)
    claim_factory(shift=shift, worker=worker)

    worker_client.post(f"/api/v1/shifts/{shift.pk}/release/")

    shift.refresh_from_db()
    assert shift.seats_taken == 0

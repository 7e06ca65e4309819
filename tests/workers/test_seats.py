"""Seats as rows: a shift has exactly `capacity` seat rows, and every active or completed claim holds
one that names it back; the database refuses anything else, whatever the code does."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from workers.models import ShiftClaim, ShiftSeat, ShiftWaitlistEntry


def _seats(shift) -> tuple[int, int]:
    """(seat rows, seats holding a claim) of the shift."""
    seats = ShiftSeat.objects.filter(shift=shift)
    return seats.count(), seats.filter(claim__isnull=False).count()


def _check_now():
    """Run the deferred checks (the claim ↔ seat foreign keys) now instead of at commit."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_a_new_shift_has_one_seat_per_place(ops_client, in_hours):
    response = ops_client.post("/api/v1/shifts/", {
        "starts_at": in_hours(5).isoformat(), "ends_at": in_hours(9).isoformat(), "capacity": 7,
        "language": "en"}, format="json")

    assert response.status_code == 201
    assert _seats(response.json()["id"]) == (7, 0)


def test_editing_the_capacity_adds_and_removes_seats(ops_client, shift_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(5), capacity=10)

    assert ops_client.patch(f"/api/v1/shifts/{shift.pk}/", {"capacity": 4}, format="json").status_code == 200
    assert _seats(shift) == (4, 0)
    assert ops_client.patch(f"/api/v1/shifts/{shift.pk}/", {"capacity": 12}, format="json").status_code == 200
    assert _seats(shift) == (12, 0)
    assert ops_client.get(f"/api/v1/shifts/{shift.pk}/").json()["seats_left"] == 12


def test_claims_take_distinct_seats_and_a_release_frees_its_own(client_for, worker_factory, shift_factory):
    shift = shift_factory(capacity=3)
    clients = [client_for(worker_factory().user) for _ in range(3)]

    answers = [c.post(f"/api/v1/shifts/{shift.pk}/claim/").json() for c in clients]
    first_seat = ShiftClaim.objects.get(pk=answers[0]["id"]).seat_id
    released = clients[0].post(f"/api/v1/shifts/{shift.pk}/release/")

    assert [a["shift_detail"]["seats_taken"] for a in answers] == [1, 2, 3]
    assert released.json()["shift_detail"]["seats_taken"] == 2
    assert ShiftClaim.objects.get(pk=answers[0]["id"]).seat_id is None
    assert ShiftSeat.objects.get(pk=first_seat).claim_id is None
    held = ShiftSeat.objects.filter(shift=shift, claim__isnull=False)
    assert sorted(held.values_list("claim_id", flat=True)) == sorted(a["id"] for a in answers[1:])


def test_a_promoted_worker_takes_over_the_freed_seat(client_for, worker_factory, shift_factory, claim_factory):
    shift = shift_factory(capacity=1)
    holder = claim_factory(shift=shift)
    waiting = worker_factory()
    assert client_for(waiting.user).post(f"/api/v1/shifts/{shift.pk}/waitlist/").status_code == 201

    assert client_for(holder.worker.user).post(f"/api/v1/shifts/{shift.pk}/release/").status_code == 200

    promoted = ShiftWaitlistEntry.objects.get(worker=waiting).claim
    assert promoted.seat_id == holder.seat_id
    assert ShiftSeat.objects.get(pk=holder.seat_id).claim_id == promoted.pk
    assert _seats(shift) == (1, 1)


def test_cancelling_a_shift_frees_the_seats_of_active_claims_only(ops_client, shift_factory, claim_factory,
                                                                   in_hours):
    shift = shift_factory(starts_at=in_hours(-1), ends_at=in_hours(3), capacity=3)
    active = claim_factory(shift=shift)
    worked = claim_factory(shift=shift, status="completed", checked_in_at=in_hours(-1),
                           checked_out_at=in_hours(-0.5))

    assert ops_client.post(f"/api/v1/shifts/{shift.pk}/cancel/", {}, format="json").status_code == 200

    active.refresh_from_db()
    assert (active.status, active.seat_id) == ("cancelled", None)
    assert list(ShiftSeat.objects.filter(shift=shift, claim__isnull=False).values_list("claim_id", flat=True)) == [
        worked.pk]


def test_database_refuses_shrinking_below_the_seats_held(shift_factory, claim_factory):
    shift = shift_factory(capacity=3)
    claim_factory(shift=shift)
    claim_factory(shift=shift)

    with pytest.raises(IntegrityError, match="shift_within_capacity"), transaction.atomic():
        type(shift).objects.filter(pk=shift.pk).update(capacity=1)

    shift.refresh_from_db()
    assert (shift.capacity, _seats(shift)) == (3, (3, 2))


def test_database_refuses_an_active_claim_without_a_seat(shift_factory, worker_factory):
    shift = shift_factory(capacity=3)

    with pytest.raises(IntegrityError, match="claim_holds_a_seat"), transaction.atomic():
        ShiftClaim.objects.create(shift=shift, worker=worker_factory(), rate_multiplier=1, starts_at=shift.starts_at,
                                  ends_at=shift.ends_at)

    assert not ShiftClaim.objects.exists()


def test_database_refuses_two_claims_on_one_seat(shift_factory, worker_factory, claim_factory):
    shift = shift_factory(capacity=3)
    first = claim_factory(shift=shift)

    with pytest.raises(IntegrityError, match="claim_holds_its_seat"), transaction.atomic():
        ShiftClaim.objects.create(shift=shift, worker=worker_factory(), rate_multiplier=1, starts_at=shift.starts_at,
                                  ends_at=shift.ends_at, seat_id=first.seat_id)
        _check_now()

    assert list(ShiftClaim.objects.values_list("pk", flat=True)) == [first.pk]


def test_database_refuses_freeing_a_seat_its_claim_still_holds(shift_factory, claim_factory):
    claim = claim_factory(shift=shift_factory(capacity=3))

    with pytest.raises(IntegrityError, match="claim_holds_its_seat"), transaction.atomic():
        ShiftSeat.objects.filter(pk=claim.seat_id).update(claim=None)
        _check_now()

    assert ShiftSeat.objects.get(pk=claim.seat_id).claim_id == claim.pk

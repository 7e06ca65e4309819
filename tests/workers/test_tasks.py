"""Beat jobs: no-shows, shift end, surge; and the reliability score they feed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from kernel.outbox.models import OutboxEvent
from workers import tasks
from workers.models import ShiftClaim, ShiftEvent, ShiftWaitlistEntry, WorkerEvent
from workers.services.reliability import reliability_compute


def minutes(n: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=n)


def test_no_show_after_fifteen_minutes_frees_the_seat(shift_factory, claim_factory):
    shift = shift_factory(starts_at=minutes(-16), ends_at=minutes(60), capacity=2)
    late = claim_factory(shift=shift)
    present = claim_factory(shift=shift, checked_in_at=minutes(-10))
    fresh = claim_factory(shift=shift_factory(starts_at=minutes(-14), ends_at=minutes(60)))

    assert tasks.mark_no_shows() == 1
    assert tasks.mark_no_shows() == 0

    late.refresh_from_db()
    present.refresh_from_db()
    fresh.refresh_from_db()
    shift.refresh_from_db()
    assert (late.status, present.status, fresh.status) == ("no_show", "active", "active")
    assert shift.seats_taken == 1
    late.worker.refresh_from_db()
    assert late.worker.reliability_score == Decimal("66.67")


def test_no_show_seat_goes_to_waitlist(shift_factory, claim_factory, worker_factory):
    shift = shift_factory(starts_at=minutes(-20), ends_at=minutes(60), capacity=1)
    claim_factory(shift=shift)
    waiting = worker_factory()
    ShiftWaitlistEntry.objects.create(shift=shift, worker=waiting)

    tasks.mark_no_shows()

    assert ShiftClaim.objects.get(shift=shift, status="active").worker_id == waiting.pk
    shift.refresh_from_db()
    assert shift.seats_taken == 1


def test_shift_end_completes_checked_in_claims(shift_factory, claim_factory):
    shift = shift_factory(starts_at=minutes(-120), ends_at=minutes(-1), capacity=3)
    worked = claim_factory(shift=shift, checked_in_at=minutes(-119))
    absent = claim_factory(shift=shift)

    assert tasks.complete_ended_claims() == 2
    assert tasks.complete_ended_claims() == 0

    worked.refresh_from_db()
    absent.refresh_from_db()
    assert (worked.status, worked.checked_out_at) == ("completed", shift.ends_at)
    assert absent.status == "no_show"
    assert OutboxEvent.objects.get(topic="worker.checked_out").payload == {
        "worker_id": worked.worker_id, "claim_id": worked.pk}
    shift.refresh_from_db()
    assert shift.seats_taken == 1


def test_surge_raises_multiplier_stepwise_up_to_cap(shift_factory, claim_factory):
    shift = shift_factory(starts_at=minutes(120), ends_at=minutes(240), capacity=2,
                          rate_multiplier=Decimal("1.00"), max_rate_multiplier=Decimal("1.15"))
    claim = claim_factory(shift=shift)

    assert tasks.surge_rates() == 1
    assert tasks.surge_rates() == 0  # at most one step per interval
    shift.refresh_from_db()
    assert shift.rate_multiplier == Decimal("1.10")
    ShiftEvent.objects.filter(shift=shift).update(created_at=timezone.now() - dt.timedelta(minutes=31))
    assert tasks.surge_rates() == 1
    shift.refresh_from_db()
    assert shift.rate_multiplier == Decimal("1.15")
    ShiftEvent.objects.filter(shift=shift).update(created_at=timezone.now() - dt.timedelta(minutes=31))
    assert tasks.surge_rates() == 0
    changes = list(ShiftEvent.objects.filter(shift=shift, kind="rate_changed").values_list("data", flat=True))
    assert [(c["from"], c["to"]) for c in changes] == [("1.00", "1.10"), ("1.10", "1.15")]
    claim.refresh_from_db()
    assert claim.rate_multiplier == Decimal("1.00")


def test_surge_leaves_far_full_and_capped_shifts(shift_factory, claim_factory):
    far = shift_factory(starts_at=minutes(60 * 5), ends_at=minutes(60 * 6), max_rate_multiplier=Decimal("2.00"))
    full = shift_factory(starts_at=minutes(60), ends_at=minutes(120), capacity=1, max_rate_multiplier=Decimal("2"))
    claim_factory(shift=full)
    capped = shift_factory(starts_at=minutes(60), ends_at=minutes(120))

    assert tasks.surge_rates() == 0
    for shift in (far, full, capped):
        shift.refresh_from_db()
        assert shift.rate_multiplier == Decimal("1.00")


def test_surge_shown_on_the_board(worker_client, shift_factory):
    shift = shift_factory(starts_at=minutes(60), ends_at=minutes(120), max_rate_multiplier=Decimal("1.50"))
    tasks.surge_rates()

    body = worker_client.get(f"/api/v1/shifts/{shift.pk}/").json()

    assert body["rate_multiplier"] == "1.10"
    assert [(c["rate_from"], c["rate_to"]) for c in body["rate_changes"]] == [("1.00", "1.10")]


def test_reliability_formula():
    assert reliability_compute(completed=0, late_released=0, no_show=0, missed_assignment=0) == Decimal("100.00")
    assert reliability_compute(completed=8, late_released=0, no_show=0, missed_assignment=0) == Decimal("100.00")
    assert reliability_compute(completed=8, late_released=2, no_show=1, missed_assignment=4) == Decimal("76.92")
    assert reliability_compute(completed=0, late_released=0, no_show=2, missed_assignment=0) == Decimal("50.00")


def test_refresh_reliability_counts_missed_assignments(worker, shift_factory, claim_factory):
    for _ in range(2):
        claim_factory(worker=worker, status="completed",
                      shift=shift_factory(starts_at=minutes(-600), ends_at=minutes(-500)))
    for _ in range(4):
        WorkerEvent.objects.create(worker=worker, kind="missed_assignment")

    tasks.refresh_reliability()

    worker.refresh_from_db()
    assert worker.reliability_score == Decimal("80.00")  # 100 × 4 / (4 + 1)

"""The server-rendered pages call the same services as the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from workers.models import Shift, ShiftClaim, Worker

pytestmark = pytest.mark.usefixtures("seed_data")


@pytest.fixture
def browser_for():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def test_apply_page_creates_applicant_and_signs_in(client):
    assert client.get("/apply/").status_code == 200

    response = client.post("/apply/", {
        "full_name": "Bea Costa", "email": "bea@example.com", "username": "bea", "password": "Sunny-river-42",
        "country": "PT", "timezone": "Europe/Lisbon", "languages": ["en", "pt"], "skills": ["payments"],
    })

    assert response.status_code == 302
    assert response["Location"] == "/application/"  # what happens next, the assessment first
    worker = Worker.objects.get(user__username="bea")
    assert worker.status == "applied"
    status_page = client.get("/application/").content.decode()
    assert "Take the assessment" in status_page
    assert client.get("/apply/assessment/").status_code == 200


def test_apply_page_shows_field_errors(client, user_factory):
    user_factory(username="bea")

    response = client.post("/apply/", {
        "full_name": "Bea Costa", "email": "bea@example.com", "username": "bea", "password": "123",
        "country": "PT", "timezone": "Europe/Lisbon", "languages": ["en"],
    })

    assert response.status_code == 400
    content = response.content.decode()
    assert "This username is taken; choose another." in content
    assert "This password is too short." in content
    assert not Worker.objects.exists()


def test_ops_vetting_page_approves(browser_for, ops_user, worker_factory):
    applicant = worker_factory(status="applied")
    client = browser_for(ops_user)
    assert applicant.full_name in client.get("/ops/vetting/").content.decode()

    response = client.post(f"/ops/vetting/{applicant.pk}/", {"action": "approve", "reason": "Good"})

    assert response.status_code == 302
    applicant.refresh_from_db()
    assert applicant.status == "approved"


def test_ops_vetting_reject_without_reason_refused(browser_for, ops_user, worker_factory):
    applicant = worker_factory(status="applied")

    browser_for(ops_user).post(f"/ops/vetting/{applicant.pk}/", {"action": "reject", "reason": ""})

    applicant.refresh_from_db()
    assert applicant.status == "applied"


def test_worker_pages_refuse_ops_and_ops_pages_refuse_workers(browser_for, ops_user, worker):
    assert browser_for(worker.user).get("/ops/vetting/").status_code == 403
    assert browser_for(worker.user).get("/ops/shifts/").status_code == 403
    assert browser_for(ops_user).get("/shifts/").status_code == 403
    assert Client().get("/shifts/").status_code == 302


def test_board_claim_and_my_shifts(browser_for, worker, shift_factory):
    shift = shift_factory(capacity=3)
    client = browser_for(worker.user)
    board = client.get("/shifts/").content.decode()
    assert f'data-shift-id="{shift.pk}"' in board

    client.post(f"/shifts/{shift.pk}/claim/")

    assert ShiftClaim.objects.get(shift=shift).worker_id == worker.pk
    assert f'data-shift-id="{shift.pk}"' in client.get("/my-shifts/").content.decode()


def test_board_and_my_shifts_show_pay_per_case_in_money(browser_for, worker, shift_factory, finance_user):
    from payouts.rate_card import rate_card_update

    rate_card_update(actor=finance_user, currency="eur", base_per_case=250, csat_bonus=50, hold_hours=1,
                     minimum_payout=1000)
    plain = shift_factory(capacity=3)
    surging = shift_factory(capacity=3, rate_multiplier="1.15", max_rate_multiplier="1.30")
    client = browser_for(worker.user)

    board = client.get("/shifts/").content.decode()

    assert "EUR 2.50</span> per case" in board  # 250 × 1.00
    assert "EUR 2.88</span> per case" in board  # 250 × 1.15 = 287.5, half up
    assert "×1.00" not in board
    # what a surge can still reach is priced too, for the live update
    assert "&quot;1.25&quot;: &quot;EUR 3.13&quot;" in board and "&quot;1.30&quot;: &quot;EUR 3.25&quot;" in board

    client.post(f"/shifts/{surging.pk}/claim/")
    rate_card_update(actor=finance_user, currency="eur", base_per_case=300, csat_bonus=50, hold_hours=1,
                     minimum_payout=1000)
    mine = client.get("/my-shifts/").content.decode()
    assert "EUR 3.45 per case" in mine  # the claim's 1.15 on today's card
    assert f'data-shift-id="{plain.pk}"' not in mine


def test_board_filters_by_day_in_worker_timezone(browser_for, worker_factory, shift_factory):
    worker = worker_factory(timezone="Asia/Tokyo")
    day = (timezone.now() + dt.timedelta(days=3)).date()
    tokyo_morning = dt.datetime.combine(day, dt.time(9), tzinfo=dt.timezone(dt.timedelta(hours=9)))
    inside = shift_factory(starts_at=tokyo_morning, ends_at=tokyo_morning + dt.timedelta(hours=2))
    outside = shift_factory(starts_at=tokyo_morning + dt.timedelta(days=1),
                            ends_at=tokyo_morning + dt.timedelta(days=1, hours=2))

    page = browser_for(worker.user).get(f"/shifts/?day={day.isoformat()}").content.decode()

    assert f'data-shift-id="{inside.pk}"' in page
    assert f'data-shift-id="{outside.pk}"' not in page
    assert "09:00" in page


def test_ops_shift_page_publishes_and_cancels(browser_for, ops_user):
    client = browser_for(ops_user)
    start = (timezone.now() + dt.timedelta(days=1)).replace(second=0, microsecond=0)

    response = client.post("/ops/shifts/", {
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"), "ends_at": (start + dt.timedelta(hours=2)).strftime(
            "%Y-%m-%dT%H:%M"), "capacity": 4, "language": "en", "skills": ["payments"], "rate_multiplier": "1.20",
    })

    assert response.status_code == 302
    shift = Shift.objects.get()
    assert (shift.starts_at, shift.capacity, str(shift.rate_multiplier)) == (start, 4, "1.20")
    client.post(f"/ops/shifts/{shift.pk}/cancel/", {"reason": "Not needed"})
    shift.refresh_from_db()
    assert shift.status == "cancelled"


def test_profile_and_assessment_pages(browser_for, worker_factory):
    applicant = worker_factory(status="applied")
    client = browser_for(applicant.user)
    profile = client.get("/profile/").content.decode()
    assert "Reliability" not in profile and "Quality" not in profile  # no scores before approval
    assert "what happens next" in profile
    page = client.get("/apply/assessment/").content.decode()
    assert page.count('type="radio"') == 5 * 4


def test_ops_shift_list_shows_seats_and_waitlist(browser_for, ops_user, shift_factory, claim_factory, worker_factory):
    from workers.models import ShiftWaitlistEntry

    shift = shift_factory(capacity=1)
    claim_factory(shift=shift)
    ShiftWaitlistEntry.objects.create(shift=shift, worker=worker_factory())

    page = browser_for(ops_user).get("/ops/shifts/").content.decode()

    assert f'<tr data-shift-id="{shift.pk}">' in page
    assert "1 / 1" in page


def test_board_offers_waitlist_on_full_shift_and_check_in_in_window(browser_for, worker, shift_factory,
                                                                    claim_factory, in_hours):
    full = shift_factory(capacity=1)
    claim_factory(shift=full)
    soon = shift_factory(starts_at=timezone.now() + dt.timedelta(minutes=10), ends_at=in_hours(2))
    claim_factory(shift=soon, worker=worker)
    client = browser_for(worker.user)

    board = client.get("/shifts/").content.decode()
    assert f'action="/shifts/{full.pk}/waitlist/"' in board
    assert f'action="/shifts/{soon.pk}/release/"' in board
    mine = client.get("/my-shifts/").content.decode()
    assert f'action="/shifts/{soon.pk}/check-in/"' in mine

    client.post(f"/shifts/{soon.pk}/check-in/", {"next": "/my-shifts/"})
    mine = client.get("/my-shifts/").content.decode()
    assert f'action="/shifts/{soon.pk}/check-out/"' in mine
    assert "Checked in" in mine


def test_ops_shift_page_publishes_a_weekly_shift(browser_for, ops_user):
    from workers.models import ShiftTemplate

    start = (timezone.now() + dt.timedelta(days=1)).replace(second=0, microsecond=0)

    response = browser_for(ops_user).post("/ops/shifts/", {
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"), "ends_at": (start + dt.timedelta(hours=3)).strftime(
            "%Y-%m-%dT%H:%M"), "capacity": 2, "language": "en", "rate_multiplier": "1.00",
        "repeat_weekly": "on", "weeks_ahead": 3,
    })

    assert response.status_code == 302
    template = ShiftTemplate.objects.get()
    assert (template.weekday, template.start_time, template.weeks_ahead) == (start.weekday(), start.time(), 3)
    assert sorted(Shift.objects.values_list("starts_at", flat=True))[0] == start
    assert Shift.objects.count() in (3, 4)


def test_surge_amounts_are_bounded_whatever_the_step(settings):
    from decimal import Decimal

    from workers.services.shifts import surge_multipliers

    assert surge_multipliers(Decimal("1.00"), Decimal("1.25")) == [Decimal("1.00"), Decimal("1.10"),
                                                                   Decimal("1.20"), Decimal("1.25")]
    settings.SHIFTLINE = {**settings.SHIFTLINE, "SURGE_STEP": "0.00"}
    assert surge_multipliers(Decimal("1.00"), Decimal("2.00")) == [Decimal("1.00")]
    settings.SHIFTLINE = {**settings.SHIFTLINE, "SURGE_STEP": "0.01"}
    assert len(surge_multipliers(Decimal("1.00"), Decimal("99.99"))) == 25

"""Ops edit a shift from the portal, through `shift_update`, until someone claims it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from tests.factories.workers import DEFAULT_PASSWORD, ShiftFactory, StaffFactory
from tests.servers import free_port
from workers.models import Shift, ShiftEvent

pytestmark = pytest.mark.usefixtures("seed_data")


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form_of(shift: Shift, **changes) -> dict:
    """The edit form as the page fills it, with `changes` typed over it."""
    data = {"starts_at": shift.starts_at.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": shift.ends_at.strftime("%Y-%m-%dT%H:%M"), "capacity": shift.capacity, "language": shift.language,
            "skills": [skill.code for skill in shift.skills.all()], "rate_multiplier": str(shift.rate_multiplier),
            "max_rate_multiplier": str(shift.max_rate_multiplier)}
    data.update(changes)
    return data


def test_ops_edit_page_shows_the_shift_as_it_is(ops_user, shift_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(5).replace(second=0), capacity=6, skills=["payments"],
                          rate_multiplier=Decimal("1.25"), max_rate_multiplier=Decimal("1.50"))
    client = _signed_in(ops_user)

    page = client.get(f"/ops/shifts/{shift.pk}/edit/")
    board = client.get("/ops/shifts/").content.decode()

    assert page.status_code == 200
    html = page.content.decode()
    assert f'value="{shift.starts_at:%Y-%m-%dT%H:%M}"' in html
    assert 'name="capacity" value="6"' in html
    assert 'value="payments" id="id_skills_' in html and "checked" in html
    assert 'value="1.25"' in html and 'value="1.50"' in html
    assert f'href="/ops/shifts/{shift.pk}/edit/"' in board


def test_ops_edit_shift_capacity_on_the_page(ops_user, shift_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(5), capacity=10, skills=["payments"])
    client = _signed_in(ops_user)

    response = client.post(f"/ops/shifts/{shift.pk}/edit/", _form_of(shift, capacity=4))

    assert response.status_code == 302 and response["Location"] == "/ops/shifts/"
    before = (shift.starts_at, shift.ends_at, shift.language, shift.rate_multiplier)
    shift.refresh_from_db()
    assert shift.capacity == 4
    assert (shift.starts_at, shift.ends_at, shift.language, shift.rate_multiplier) == before  # seconds kept
    assert list(shift.skills.values_list("code", flat=True)) == ["payments"]
    event = ShiftEvent.objects.get(shift=shift, kind="edited")
    assert (event.actor, event.data) == (ops_user, {"capacity": "4"})
    assert f"Shift {shift.pk} updated." in client.get("/ops/shifts/").content.decode()


def test_ops_edit_moves_the_times_and_skills(ops_user, shift_factory, in_hours):
    shift = shift_factory(starts_at=in_hours(5), skills=["payments"])
    start = in_hours(26).replace(second=0)

    response = _signed_in(ops_user).post(f"/ops/shifts/{shift.pk}/edit/", _form_of(
        shift, starts_at=start.strftime("%Y-%m-%dT%H:%M"), ends_at=(start + dt.timedelta(hours=4)).strftime(
            "%Y-%m-%dT%H:%M"), skills=["refunds", "orders"], rate_multiplier="1.40", max_rate_multiplier=""))

    assert response.status_code == 302
    shift.refresh_from_db()
    assert (shift.starts_at, shift.ends_at) == (start, start + dt.timedelta(hours=4))
    assert sorted(shift.skills.values_list("code", flat=True)) == ["orders", "refunds"]
    assert (shift.rate_multiplier, shift.max_rate_multiplier) == (Decimal("1.40"), Decimal("1.40"))


def test_ops_edit_refused_for_a_claimed_shift_shows_why_and_changes_nothing(ops_user, shift_factory,
                                                                             claim_factory):
    shift = shift_factory(capacity=10)
    claim_factory(shift=shift)

    response = _signed_in(ops_user).post(f"/ops/shifts/{shift.pk}/edit/", _form_of(shift, capacity=4))

    assert response.status_code == 409
    assert "A shift can only be edited before anyone claims it." in response.content.decode()
    shift.refresh_from_db()
    assert (shift.capacity, shift.seats_taken) == (10, 1)
    assert not ShiftEvent.objects.filter(shift=shift, kind="edited").exists()


def test_ops_edit_shows_out_of_range_values_on_their_fields(ops_user, shift_factory):
    shift = shift_factory(capacity=10)

    response = _signed_in(ops_user).post(f"/ops/shifts/{shift.pk}/edit/", _form_of(shift, capacity=0))

    assert response.status_code == 400
    assert '<p class="form-error" id="id_capacity_error">Capacity is from 1 to 1000 seats.</p>' in (
        response.content.decode())
    shift.refresh_from_db()
    assert shift.capacity == 10


def test_ops_edit_of_a_cancelled_shift_is_refused(ops_user, shift_factory):
    shift = shift_factory(status="cancelled", capacity=10)

    response = _signed_in(ops_user).post(f"/ops/shifts/{shift.pk}/edit/", _form_of(shift, capacity=4))

    assert response.status_code == 409
    assert "This shift was cancelled." in response.content.decode()
    shift.refresh_from_db()
    assert shift.capacity == 10


def test_shift_edit_page_is_for_ops_only(worker, finance_user, shift_factory):
    shift = shift_factory(capacity=10)

    assert _signed_in(worker.user).get(f"/ops/shifts/{shift.pk}/edit/").status_code == 403
    assert _signed_in(worker.user).post(f"/ops/shifts/{shift.pk}/edit/", _form_of(shift, capacity=4)).status_code == 403
    assert _signed_in(finance_user).get(f"/ops/shifts/{shift.pk}/edit/").status_code == 403
    anonymous = Client().get(f"/ops/shifts/{shift.pk}/edit/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert _signed_in(StaffFactory(role="ops")).get("/ops/shifts/999999/edit/").status_code == 404
    shift.refresh_from_db()
    assert shift.capacity == 10


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ops_edits_a_shift_in_a_browser_and_sees_it_on_the_shifts_page(browser, asgi_server_factory):
    port = free_port()
    server = asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}")
    StaffFactory(username="olga", role="ops")
    shift = ShiftFactory(capacity=10)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{server.url}/login/")
        page.get_by_label("Username").fill("olga")
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        page.goto(f"{server.url}/ops/shifts/")
        row = page.locator(f'tr[data-shift-id="{shift.pk}"]')
        assert "0 / 10" in row.inner_text()

        with page.expect_navigation():
            row.get_by_role("link", name=f"Edit shift {shift.pk}").click()
        page.get_by_label("Capacity").fill("7")
        with page.expect_navigation():
            page.get_by_role("button", name="Save changes").click()

        assert page.url == f"{server.url}/ops/shifts/"
        assert f"Shift {shift.pk} updated." in page.get_by_role("status").first.inner_text()
        assert "0 / 7" in page.locator(f'tr[data-shift-id="{shift.pk}"]').inner_text()
        shift.refresh_from_db()
        assert shift.capacity == 7
    finally:
        context.close()

"""Each role lands on its own home after signing in, and its navigation offers only what it can use."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.a11y import assert_accessible
from tests.factories.workers import ShiftClaimFactory, ShiftFactory, StaffFactory, WorkerFactory
from tests.journeys.conftest import nav_links, no_horizontal_scroll, path_of, sign_in
from workers.models import WorkerEvent

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_staff_land_on_their_boards_and_signed_in_home_is_their_home(server, open_page):
    StaffFactory(username="olga", role="ops")
    StaffFactory(username="fiona", role="finance")

    ops = open_page()
    sign_in(ops, server.url, "olga")
    assert path_of(ops) == "/ops/live/"
    assert nav_links(ops) == ["Vetting", "Shifts", "Live queue", "Canned responses", "Operations", "Audit"]
    assert no_horizontal_scroll(ops)
    assert_accessible(ops)
    ops.get_by_role("link", name="Shiftline").click()  # the brand: home is the live board, not marketing
    ops.wait_for_load_state("load")
    assert path_of(ops) == "/ops/live/"
    expect(ops.get_by_role("link", name="Apply to work with Shiftline")).to_have_count(0)

    finance = open_page()
    sign_in(finance, server.url, "fiona")
    assert path_of(finance) == "/finance/dashboard/"
    assert nav_links(finance) == ["Rate card", "Payouts", "Finance"]
    assert_accessible(finance)

    StaffFactory(username="ada", role="admin")
    admin = open_page()
    sign_in(admin, server.url, "ada")
    assert path_of(admin) == "/ops/live/"
    assert nav_links(admin) == ["Vetting", "Live queue", "Finance", "Audit", "Admin"]

    visitor = open_page()
    visitor.goto(server.url + "/")
    expect(visitor.get_by_role("link", name="Apply to work with Shiftline")).to_be_visible()
    assert nav_links(visitor)[-2:] == ["Work with Shiftline", "Get help"]
    assert no_horizontal_scroll(visitor)
    assert_accessible(visitor)


def test_workers_land_on_my_shifts_or_the_board(server, open_page):
    WorkerFactory(user__username="wanda", full_name="Wanda Silva")
    holder = WorkerFactory(user__username="hugo", full_name="Hugo Lima")
    ShiftClaimFactory(worker=holder, shift=ShiftFactory())

    page = open_page()
    sign_in(page, server.url, "wanda")
    assert path_of(page) == "/shifts/"  # no shift yet: the board
    assert nav_links(page) == ["Shift board", "My shifts", "Console", "Earnings", "Profile"]
    expect(page.get_by_role("heading", name="Shift board")).to_be_visible()
    assert no_horizontal_scroll(page)
    assert_accessible(page)

    page = open_page()
    sign_in(page, server.url, "hugo")
    assert path_of(page) == "/my-shifts/"
    expect(page.get_by_role("heading", name="Upcoming and running")).to_be_visible()
    assert_accessible(page)
    page.goto(server.url + "/profile/")
    expect(page.get_by_text("Portugal")).to_be_visible()  # names, not codes
    expect(page.get_by_text("English", exact=True)).to_be_visible()
    expect(page.get_by_text("Not rated yet")).to_be_visible()
    expect(page.get_by_text("completed shifts + 2")).to_have_count(0)
    assert no_horizontal_scroll(page)
    assert_accessible(page)


@pytest.mark.parametrize(("status", "reads"), [
    ("applied", "What happens next"),
    ("rejected", "What this means"),
    ("suspended", "What this means"),
])
def test_applicants_and_the_refused_land_on_their_application_status(server, open_page, status, reads):
    worker = WorkerFactory(user__username="abby", full_name="Abby Okafor", status=status, country="NG",
                           languages=["en", "yo"])
    if status != "applied":
        WorkerEvent.objects.create(worker=worker, kind=status, from_status="applied", to_status=status,
                                   reason="Not enough availability this season.")

    page = open_page()
    sign_in(page, server.url, "abby")
    assert path_of(page) == "/application/"
    expect(page.get_by_role("heading", name=reads)).to_be_visible()
    links = nav_links(page)
    assert "Console" not in links and "Shift board" not in links and "My shifts" not in links
    assert ("Earnings" in links) == (status == "suspended")  # what a suspended worker earned is still theirs
    if status != "applied":
        expect(page.get_by_text("Not enough availability this season.")).to_be_visible()
    assert no_horizontal_scroll(page)
    assert_accessible(page)

    for path in ("/console/", "/shifts/", "/my-shifts/"):  # typed in anyway: sent to the status page
        page.goto(server.url + path)
        assert path_of(page) == "/application/", path
    expect(page.get_by_text("You have priority access")).to_have_count(0)

    page.goto(server.url + "/profile/")
    expect(page.get_by_text("Nigeria")).to_be_visible()
    expect(page.get_by_text("English, Yoruba")).to_be_visible()
    if status != "suspended":  # no scores before approval (a suspended worker keeps theirs)
        expect(page.get_by_text("Quality")).to_have_count(0)
    assert_accessible(page)

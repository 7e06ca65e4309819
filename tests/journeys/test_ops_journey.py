"""Ops in their first hour, in a real browser at laptop (1366×900) and phone (390×844) width:
canned responses with placeholders that reach the worker's console rendered, shifts typed and read
in their own timezone, and a live board that shows every column. axe-core checks each page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.a11y import assert_accessible
from tests.factories.tickets import TicketFactory, on_shift_worker
from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory
from tests.servers import free_port
from tickets.models import TicketStatus
from workers.models import Shift

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORTS = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def server(asgi_server_factory, skill_catalogue):
    port = free_port()
    return asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}", RATELIMIT_ENABLE="false",
                               STAFF_2FA_REQUIRED="false")


def sign_in(browser, server, username: str, viewport: str, zone: str = "UTC", next_path: str = "/"):
    context = browser.new_context(viewport=VIEWPORTS[viewport], timezone_id=zone)
    page = context.new_page()
    page.goto(f"{server.url}/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    return context, page


def no_horizontal_scroll(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    wide = page.evaluate("""[...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                && e.parentElement.getBoundingClientRect().right <= document.documentElement.clientWidth + 1)
        .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)""")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}, past the edge: {wide}"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_ops_write_a_canned_response_and_the_console_gets_it_in_the_workers_words(browser, server, viewport):
    StaffFactory(role="ops", username="olga")
    worker = on_shift_worker(full_name="Chloé Martin")
    ticket = TicketFactory(customer_name="Maria Lopez", status=TicketStatus.ASSIGNED, assigned_worker=worker,
                           assigned_at=timezone.now())
    context, page = sign_in(browser, server, "olga", viewport)  # lands on the live board
    try:
        with page.expect_navigation():
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Canned responses").click()
        expect(page.get_by_role("heading", name="Canned responses", exact=True)).to_be_visible()
        expect(page.get_by_text("No canned responses yet")).to_be_visible()
        assert_accessible(page)

        page.get_by_label("Title").fill("Greeting")
        page.get_by_label("Body").fill("Hi {customer_first_name}, I'm {first_name}.")
        page.get_by_role("button", name="Save", exact=True).click()
        error = page.get_by_text("Unknown placeholder {first_name}.")
        expect(error).to_be_visible()
        expect(page.get_by_label("Body")).to_have_attribute("aria-invalid", "true")
        assert_accessible(page)

        page.get_by_label("Body").fill("Hi {customer_first_name}, I'm {worker_first_name}. How can I help?")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text("Saved “Greeting”.")).to_be_visible()
        item = page.locator("[data-canned-id]")
        expect(item).to_have_count(1)
        expect(item.get_by_role("heading")).to_have_text("Greeting")
        no_horizontal_scroll(page)
        assert_accessible(page)
    finally:
        context.close()

    worker_context, worker_page = sign_in(browser, server, worker.user.username, viewport, next_path="/")
    try:
        # What the console fetches for the chat it has open.
        answer = worker_context.request.get(f"{server.url}/api/v1/tickets/canned-responses/?ticket={ticket.pk}")
        assert answer.status == 200
        assert [(r["title"], r["rendered"]) for r in answer.json()["results"]] == [
            ("Greeting", "Hi Maria, I'm Chloé. How can I help?")]
    finally:
        worker_context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_ops_publish_a_shift_in_their_timezone_and_read_it_back_in_it(browser, server, viewport):
    StaffFactory(role="ops", username="olga")
    day = (timezone.now() + dt.timedelta(days=2)).date()
    context, page = sign_in(browser, server, "olga", viewport, zone="Europe/Paris", next_path="/ops/shifts/")
    try:
        # The first page learns the browser's zone and shows itself again in it.
        expect(page.get_by_label("Starts (Europe/Paris)")).to_be_visible()
        assert_accessible(page)

        page.get_by_label("Starts (Europe/Paris)").fill(f"{day}T10:00")
        page.get_by_label("Ends (Europe/Paris)").fill(f"{day}T08:00")
        page.get_by_label("Capacity").fill("4")
        page.get_by_role("button", name="Publish").click()
        expect(page.get_by_text("The end is before the start: a shift must end after it starts.")).to_be_visible()
        assert_accessible(page)

        page.get_by_label("Ends (Europe/Paris)").fill(f"{day}T14:00")
        page.get_by_role("button", name="Publish").click()
        when = f"{day:%a} {day.day} {day:%b %Y}, 10:00 Europe/Paris"
        expect(page.get_by_text(f"published: {when} to 14:00 Europe/Paris")).to_be_visible()
        row = page.locator("#ops-shifts tbody tr").first
        expect(row).to_contain_text(when)
        expect(row).to_contain_text("14:00 Europe/Paris")
        cancel = row.get_by_text("Cancel", exact=False).first
        expect(cancel).to_be_visible()
        assert page.evaluate("getComputedStyle(document.querySelector('.cancel-shift summary')).backgroundColor") \
            in ("rgba(0, 0, 0, 0)", "transparent")
        no_horizontal_scroll(page)
        assert_accessible(page)
    finally:
        context.close()
    shift = Shift.objects.get()
    assert shift.starts_at == dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC)  # CET is UTC+1 in December


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_live_board_shows_every_column_with_names_at_laptop_and_phone_width(browser, server, viewport):
    StaffFactory(role="ops", username="olga")
    worker = on_shift_worker(full_name="Ben Okafor")
    TicketFactory(customer_name="Maria Lopez", status=TicketStatus.ASSIGNED, assigned_worker=worker,
                  assigned_at=timezone.now())
    TicketFactory(language="en")
    context, page = sign_in(browser, server, "olga", viewport, next_path="/ops/live/")
    try:
        expect(page.locator("#live-status")).to_have_text("Live", timeout=10000)
        expect(page.locator("#tickets tr")).to_have_count(2)
        expect(page.locator("#tickets")).to_contain_text("Ben Okafor")
        expect(page.locator("#workers")).to_contain_text("Ben Okafor")
        for header in ("Longest wait", "Shift ends", "Open tickets"):
            expect(page.get_by_text(header, exact=True).first).to_be_visible()
        no_horizontal_scroll(page)
        cut = page.evaluate("""[...document.querySelectorAll('.board .table-wrap')]
            .filter(w => w.scrollWidth > w.clientWidth + 1)
            .map(w => w.closest('section').querySelector('h2').textContent)""")
        assert cut == [], f"tables cut off at {viewport} width: {cut}"
        for button in page.locator("#tickets button").all():
            box, panel = button.bounding_box(), page.locator("#tickets").bounding_box()
            assert box and panel and box["x"] + box["width"] <= panel["x"] + panel["width"] + 1
        assert_accessible(page)
    finally:
        context.close()

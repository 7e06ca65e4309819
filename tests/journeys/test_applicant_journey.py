"""An applicant's first hour: applies (searchable pickers, a weak password refused, then a strong
one), lands on their application status; ops approve; they sign in, land on the board, claim a
shift and read the confirmation, check in, take a chat in the console, reply with a canned
response in their own first name, and resolve it, with no dialog anywhere."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.a11y import assert_accessible
from tests.factories.accounts import api_token_for
from tests.factories.tickets import CannedResponseFactory
from tests.factories.workers import ShiftFactory, StaffFactory
from tests.journeys.conftest import in_viewport, nav_links, no_horizontal_scroll, path_of, sign_in
from workers.models import Worker

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STRONG_PASSWORD = "Sunny-river-42"


def overlapping_labels(page) -> list[str]:
    """Labels and legends of the application form whose box overlaps any field's box."""
    return page.evaluate("""() => {
      const visible = (node) => node.getClientRects().length > 0;
      const form = document.querySelector("main form");
      const labels = [...form.querySelectorAll("label, legend")].filter(visible);
      const fields = [...form.querySelectorAll("input, select, textarea")].filter(visible);
      const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      const found = [];
      for (const label of labels) {
        const box = label.getBoundingClientRect();
        for (const field of fields) {
          if (label.contains(field)) continue;  // a checkbox inside its own label
          if (overlaps(box, field.getBoundingClientRect())) {
            found.push(label.textContent.trim() + " / " + (field.id || field.name));
          }
        }
      }
      return found;
    }""")


def test_applicant_applies_is_approved_claims_checks_in_and_resolves_a_chat(server, open_page):
    ops = StaffFactory(username="olga", role="ops")
    ops_headers = {"Authorization": f"Token {api_token_for(ops)}"}
    now = timezone.now()
    ShiftFactory(starts_at=now - dt.timedelta(minutes=5), ends_at=now + dt.timedelta(hours=2), capacity=4)
    CannedResponseFactory(title="Greeting", body="Hi {customer_name}, I'm {worker_first_name} and I'll help you.")

    page = open_page(timezone_id="Europe/Lisbon")
    page.goto(server.url + "/apply/")
    assert page.get_by_label("Timezone").input_value() == "Europe/Lisbon"  # the browser's, not UTC
    assert no_horizontal_scroll(page)
    assert_accessible(page)
    page.get_by_label("Full name").fill("Dana Reyes")
    page.get_by_label("Email").fill("dana@example.com")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("dana1234")
    page.get_by_label("Country").select_option(label="Portugal")

    # Languages: type to find, Enter ticks the only match; no Ctrl-click anywhere.
    search = page.get_by_label("Search languages")
    search.fill("portug")
    expect(page.locator("#languages_options label:visible")).to_have_count(1)
    search.press("Enter")
    expect(page.get_by_role("button", name="Remove Portuguese")).to_be_visible()
    search.fill("engl")
    page.get_by_label("English", exact=True).check()
    expect(page.get_by_role("button", name="Remove English")).to_be_visible()
    expect(page.get_by_text("2 chosen.")).to_be_visible()
    page.get_by_label("Search skills").fill("gen")
    page.get_by_label("General questions", exact=True).check()
    page.get_by_label("Search skills").fill("")
    page.get_by_label("Payments", exact=True).check()
    assert no_horizontal_scroll(page)
    assert not overlapping_labels(page), overlapping_labels(page)
    assert_accessible(page)

    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("This password is too short. It must contain at least 10 characters.")).to_be_visible()
    assert not Worker.objects.filter(user__username="dana").exists()
    expect(page.get_by_label("English", exact=True)).to_be_checked()  # nothing else to redo
    assert_accessible(page)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()

    assert path_of(page) == "/application/"
    expect(page.get_by_role("heading", name="What happens next")).to_be_visible()
    expect(page.get_by_role("link", name="Take the assessment")).to_be_visible()
    assert nav_links(page)[-2:] == ["Application", "Profile"]
    assert "Console" not in nav_links(page)
    assert no_horizontal_scroll(page)
    assert_accessible(page)

    page.get_by_role("link", name="Take the assessment").click()
    page.wait_for_load_state("load")
    assert_accessible(page)
    questions = page.locator("form fieldset")
    for index in range(questions.count()):
        questions.nth(index).get_by_role("radio").first.check()
    with page.expect_navigation():
        page.get_by_role("button", name="Submit my answers").click()
    assert path_of(page) == "/application/"  # back to what happens next: the review
    expect(page.get_by_text("You scored")).to_be_visible()
    expect(page.get_by_role("link", name="Take the assessment")).to_have_count(0)
    assert_accessible(page)

    dana = Worker.objects.get(user__username="dana")
    assert (dana.timezone, dana.country) == ("Europe/Lisbon", "PT")
    assert sorted(dana.languages.values_list("language", flat=True)) == ["en", "pt"]
    approved = httpx.post(f"{server.url}/api/v1/workers/{dana.pk}/approve/", headers=ops_headers,
                          json={"reason": "Good answers"}, timeout=10)
    assert approved.status_code == 200, approved.text

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state("load")
    sign_in(page, server.url, "dana", STRONG_PASSWORD)
    assert path_of(page) == "/shifts/"  # approved, no shift yet: the board
    assert nav_links(page) == ["Shift board", "My shifts", "Console", "Earnings", "Profile"]
    expect(page.locator("#shift-board td[data-label=Language]").first).to_have_text("English")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("^Claim the shift")).click()
    confirmation = page.get_by_text("You claimed the shift of")
    expect(confirmation).to_be_visible()
    assert in_viewport(page, confirmation)
    expect(confirmation).to_contain_text("Europe/Lisbon")
    assert no_horizontal_scroll(page)
    assert_accessible(page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My shifts").click()
    page.wait_for_load_state("load")
    with page.expect_navigation():
        page.get_by_role("button", name="Check in").click()
    expect(page.get_by_text("You are checked in")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Open console").click()
    page.wait_for_load_state("load")
    expect(page.locator("#presence")).to_have_text("Online", timeout=15000)
    expect(page.locator("#shift-note")).to_contain_text("You are checked in until")
    assert_accessible(page)

    created = httpx.post(f"{server.url}/api/v1/tickets/", timeout=10, json={
        "name": "Rosa Lima", "email": "rosa@example.com", "language": "en", "topic": "general",
        "message": "Where is my order?"})
    assert created.status_code == 201, created.text
    pane = page.locator(".chat")
    expect(pane).to_have_count(1, timeout=15000)
    expect(pane.locator(".log li").first).to_contain_text("Where is my order?")
    pane.get_by_label("Canned response").select_option(label="Greeting")
    expect(pane.get_by_label("Reply")).to_have_value("Hi Rosa Lima, I'm Dana and I'll help you.")
    pane.get_by_role("button", name="Send").click()
    expect(pane.locator(".log li")).to_have_count(2, timeout=10000)
    assert no_horizontal_scroll(page)
    assert_accessible(page)

    pane.get_by_text("Resolve or transfer").click()
    pane.get_by_label("Resolution").fill("Order located; arrives tomorrow")
    pane.get_by_role("button", name="Resolve").click()
    expect(pane).to_have_count(0, timeout=10000)
    expect(page.locator("#presence")).to_contain_text("resolved")
    assert_accessible(page)
    # No dialog was opened on the way: `open_page` fails the test otherwise.

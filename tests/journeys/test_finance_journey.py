"""Finance in their first hour, in a real browser at laptop (1366×900) and phone (390×844) width:
a payout run that pays one worker and says why it left the others out, in money and local times;
the rate card edited in money. axe-core checks each page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.a11y import assert_accessible
from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory, WorkerFactory
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORTS = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
RAW_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def sign_in(browser, server, viewport: str, next_path: str):
    context = browser.new_context(viewport=VIEWPORTS[viewport], timezone_id="Europe/Stockholm")
    page = context.new_page()
    page.goto(f"{server.url}/login/?next={next_path}")
    page.get_by_label("Username").fill("fiona")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    return context, page


def no_horizontal_scroll(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_finance_runs_a_payout_and_reads_why_workers_were_left_out(
        browser, asgi_server_factory, skill_catalogue, stripe_sandbox, ready_worker_factory, earn, viewport):
    paid = ready_worker_factory(full_name="Paula Paid")
    earn(paid, cases=5)  # EUR 25.00, the minimum is EUR 20.00
    small = ready_worker_factory(full_name="Sam Small")
    earn(small, cases=2)  # EUR 10.00
    earn(WorkerFactory(full_name="Una Unready"), cases=6)  # no Stripe account
    StaffFactory(role="finance", username="fiona")
    port = free_port()
    server = asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
                                 RATELIMIT_ENABLE="false", STAFF_2FA_REQUIRED="false",
                                 STRIPE_API_BASE=stripe_sandbox.url)
    context, page = sign_in(browser, server, viewport, "/finance/payouts/")
    try:
        expect(page.get_by_text("No runs yet: start one above.")).to_be_visible()
        assert_accessible(page)

        page.get_by_role("button", name="Start a payout run now").click()
        expect(page.get_by_role("heading", name=re.compile(r"Run #\d+: completed"))).to_be_visible(timeout=20000)
        expect(page.get_by_test_id("run-total")).to_have_text("EUR 25.00")
        expect(page.get_by_text("No runs yet")).to_have_count(0)
        left_out = page.get_by_test_id("skipped")
        expect(left_out.locator("tbody tr")).to_have_count(2)
        expect(left_out.locator("tr", has_text="Sam Small")).to_contain_text(
            "Below the minimum payout: EUR 10.00 available, EUR 20.00 needed.")
        expect(left_out.locator("tr", has_text="Una Unready")).to_contain_text("No ready payout account")
        expect(page.locator("main")).to_contain_text("Europe/Stockholm")
        main_text = page.locator("main").inner_text()
        assert "cents" not in main_text and not RAW_ISO.search(main_text), main_text
        no_horizontal_scroll(page)
        assert_accessible(page)

        page.goto(f"{server.url}/finance/rate-card/")
        expect(page.get_by_label("Base pay per resolved case (EUR)")).to_have_value("5.00")
        page.get_by_label("Base pay per resolved case (EUR)").fill("6.50")
        page.get_by_label("Reason (kept in the audit trail)").fill("Winter rates")
        page.get_by_role("button", name=re.compile("Save as version")).click()
        expect(page.get_by_text(re.compile(r"Rate card version \d+ is now in force."))).to_be_visible()
        expect(page.get_by_label("Base pay per resolved case (EUR)")).to_have_value("6.50")
        expect(page.get_by_text("per case: EUR 5.00 → EUR 6.50")).to_be_visible()
        no_horizontal_scroll(page)
        assert_accessible(page)
    finally:
        context.close()

"""A real browser: a staff user enrols in two-factor sign-in by the QR page, then signs in with a code."""

import time

import pyotp
import pytest

from tests.a11y import assert_accessible
from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _sign_in(page, server, username, otp=""):
    page.goto(f"{server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    if otp:
        page.get_by_label("Two-factor code").fill(otp)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def test_ops_enrols_with_the_qr_page_and_then_signs_in_with_a_code(browser, asgi_server_factory):
    server = asgi_server_factory(STAFF_2FA_REQUIRED="true", RATELIMIT_ENABLE="false")
    StaffFactory(username="olga", role="ops")
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    try:
        # Without a device, signing in leads to the enrolment page whatever page was asked for.
        _sign_in(page, server, "olga")
        page.goto(f"{server.url}/ops/vetting/")
        assert page.url.startswith(f"{server.url}/account/2fa/")
        assert page.get_by_role("heading", name="Set up two-factor sign-in").is_visible()
        assert page.get_by_role("img", name="QR code for your authenticator app").locator("svg").count() == 1
        assert_accessible(page)
        secret = page.locator("#totp-secret").inner_text()

        page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).now())
        with page.expect_navigation():
            page.get_by_role("button", name="Confirm").click()
        assert page.get_by_role("heading", name="Two-factor sign-in is on").is_visible()
        assert page.get_by_role("list", name="Recovery codes").get_by_role("listitem").count() == 10
        assert_accessible(page)
        with page.expect_navigation():
            page.get_by_role("link", name="Continue").click()
        assert page.url == f"{server.url}/ops/vetting/"

        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()
        _sign_in(page, server, "olga")  # no code: asked for it
        assert "Enter the 6-digit code" in page.get_by_role("alert").inner_text()
        assert_accessible(page)
        _sign_in(page, server, "olga", otp=pyotp.TOTP(secret).at(time.time() + 30))  # the next step: no replay
        assert page.get_by_role("navigation", name="Main").get_attribute("data-role") == "ops"
        page.goto(f"{server.url}/ops/vetting/")
        assert page.url == f"{server.url}/ops/vetting/"
    finally:
        context.close()


def test_a_locked_out_username_sees_why_on_the_sign_in_page(browser, asgi_server_factory):
    server = asgi_server_factory(RATELIMIT_ENABLE="false")
    StaffFactory(username="fred", role="finance")
    context = browser.new_context()
    page = context.new_page()
    try:
        for _ in range(5):
            page.goto(f"{server.url}/login/")
            page.get_by_label("Username").fill("fred")
            page.get_by_label("Password").fill("wrong-password")
            with page.expect_navigation():
                page.get_by_role("button", name="Sign in").click()
        _sign_in(page, server, "fred")

        assert "Too many failed sign-ins" in page.get_by_role("alert").inner_text()
        assert page.get_by_role("navigation", name="Main").get_attribute("data-role") == "guest"
        assert_accessible(page)
    finally:
        context.close()

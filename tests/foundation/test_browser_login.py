"""A real browser signs in through the login page and sees its role's navigation."""

import pytest

from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory, WorkerFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _sign_in(browser, server, username):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    page.goto(f"{server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    return context, page


def test_ops_signs_in_and_sees_the_ops_navigation(browser, asgi_server):
    StaffFactory(username="olga", role="ops")

    context, page = _sign_in(browser, asgi_server, "olga")
    try:
        nav = page.get_by_role("navigation", name="Main")
        assert nav.get_attribute("data-role") == "ops"
        links = nav.get_by_role("link").all_inner_texts()
        assert links == ["Vetting", "Shifts", "Live queue", "Canned responses", "Operations", "Audit"]
        assert page.locator(".who").inner_text().startswith("olga")
    finally:
        context.close()


def test_worker_signs_in_and_sees_the_worker_navigation(browser, asgi_server):
    WorkerFactory(user__username="wendy")

    context, page = _sign_in(browser, asgi_server, "wendy")
    try:
        links = page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()
        assert links == ["Shift board", "My shifts", "Console", "Earnings", "Profile"]
    finally:
        context.close()


def test_wrong_password_shows_an_error_and_stays_signed_out(browser, asgi_server):
    StaffFactory(username="fred", role="finance")
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{asgi_server.url}/login/")
        page.get_by_label("Username").fill("fred")
        page.get_by_label("Password").fill("wrong-password")
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()

        assert page.get_by_role("alert").inner_text().startswith("Please enter a correct username and password")
        assert page.get_by_role("navigation", name="Main").get_attribute("data-role") == "guest"
    finally:
        context.close()

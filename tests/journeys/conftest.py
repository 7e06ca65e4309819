"""Journeys of each role's first hour, in Debian's Chromium at a desktop and a phone size, against
a real ASGI server in production mode (DEBUG off) on the test database."""

from __future__ import annotations

import pytest

from tests.factories.workers import DEFAULT_PASSWORD, ensure_seed_data
from tests.servers import free_port

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def viewport(request) -> dict:
    return VIEWPORTS[request.param]


@pytest.fixture
def server(asgi_server_factory):
    """Production settings (DEBUG off), rate limits lifted so repeated sign-ins are not refused."""
    ensure_seed_data()
    port = free_port()
    return asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}", RATELIMIT_ENABLE="false")


@pytest.fixture
def open_page(browser, viewport):
    """`open_page(**context_options)`: a page in a fresh context of the test's viewport. A page
    that opens a JavaScript dialog (alert, confirm) fails the test."""
    contexts = []
    dialogs: list[str] = []

    def make(**options):
        context = browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        # A stylesheet, script or icon a page asks for and does not get (a missing favicon, say).
        page.on("response", lambda response: missing.append(f"{response.status} {response.url}")
                if response.status >= 400 and response.request.resource_type != "document"
                and response.request.resource_type not in ("fetch", "xhr") else None)
        return page

    missing: list[str] = []
    yield make
    for context in contexts:
        context.close()
    assert not dialogs, f"a page opened a dialog: {dialogs}"
    assert not missing, f"pages asked for resources that are not there: {missing}"


def sign_in(page, base: str, username: str, password: str = DEFAULT_PASSWORD) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


def path_of(page) -> str:
    from urllib.parse import urlsplit

    return urlsplit(page.url).path


def nav_links(page) -> list[str]:
    return page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def in_viewport(page, locator) -> bool:
    """Whether the element is wholly inside the visible viewport, as it is now (no scrolling)."""
    box = locator.bounding_box()
    size = page.evaluate("({width: window.innerWidth, height: window.innerHeight})")
    return (box is not None and box["x"] >= 0 and box["y"] >= 0
            and box["x"] + box["width"] <= size["width"] + 0.5 and box["y"] + box["height"] <= size["height"] + 0.5)

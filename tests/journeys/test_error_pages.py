"""In production mode (DEBUG off) a wrong address or a page of another role shows a styled page of
ours, with a way home; the API keeps its JSON error shape; every page has its icon."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.a11y import assert_accessible
from tests.factories.workers import WorkerFactory
from tests.journeys.conftest import no_horizontal_scroll, path_of, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_styled_404_and_403_pages_with_a_way_home(server, open_page):
    WorkerFactory(user__username="wes", full_name="Wes Mendes")

    page = open_page()
    answer = page.goto(server.url + "/no/such/page/")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", name="We cannot find that page")).to_be_visible()
    expect(page.get_by_text("Using the URLconf")).to_have_count(0)  # never Django's debug page
    assert page.locator("link[rel=icon]").get_attribute("href", timeout=1000).endswith("favicon.svg")
    assert no_horizontal_scroll(page)
    assert_accessible(page)

    sign_in(page, server.url, "wes")
    answer = page.goto(server.url + "/ops/vetting/")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", name="This page is not for your account")).to_be_visible()
    expect(page.get_by_text("You are signed in as wes (worker)")).to_be_visible()
    assert no_horizontal_scroll(page)
    assert_accessible(page)
    page.get_by_role("link", name="Go to your home page").click()
    page.wait_for_load_state("load")
    assert path_of(page) == "/shifts/"

    icon = httpx.get(server.url + "/static/favicon.svg", timeout=10)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
    api = httpx.get(server.url + "/api/v1/no-such-endpoint/", timeout=10)
    assert api.status_code == 404
    assert api.json() == {"code": "not_found", "detail": "No such endpoint."}

"""Ops watch the live queue in a real browser: updates arrive over the socket, polling only covers
the time the socket is down."""

import pytest
from playwright.sync_api import expect

from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory
from tests.servers import free_port
from tests.tickets.wsclient import open_ticket_over_http

pytestmark = [pytest.mark.browser, pytest.mark.slow]

POLL_PATH = "/api/v1/tickets/live-board/"


def ops_board_page(browser, server):
    StaffFactory(role="ops", username="olga")
    context = browser.new_context()
    page = context.new_page()
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if POLL_PATH in request.url else None)
    return context, page, polls


def sign_in_to_board(page, server) -> None:
    page.goto(f"{server.url}/login/?next=/ops/live/")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def test_live_board_shows_a_new_queued_ticket_without_reload_and_without_polling(browser, asgi_server_factory):
    port = free_port()
    server = asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
                                 RATELIMIT_ENABLE="false", OPS_LIVE_REFRESH_SECONDS="60")
    context, page, polls = ops_board_page(browser, server)
    try:
        sign_in_to_board(page, server)
        expect(page.locator("#live-status")).to_have_text("Live", timeout=10000)
        expect(page.locator("#queue-length")).to_have_text("0")
        page.evaluate("window.__notReloaded = true")

        ticket = open_ticket_over_http(server, language="de", topic="refunds")

        expect(page.locator("#tickets").get_by_role("button", name=f"Open #{ticket['id']}")).to_be_visible(
            timeout=5000)
        expect(page.locator("#queue-length")).to_have_text("1")
        expect(page.locator("#queue tr")).to_have_count(1)
        expect(page.locator("#queue tr td").nth(0)).to_have_text("de")
        expect(page.locator("#queue tr td").nth(2)).to_have_text("1")
        assert page.evaluate("window.__notReloaded") is True
        assert polls == []
    finally:
        context.close()


def test_live_board_polls_while_its_socket_is_down_and_goes_live_again(browser, asgi_server_factory):
    port = free_port()
    server = asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
                                 RATELIMIT_ENABLE="false", OPS_LIVE_REFRESH_SECONDS="60")
    context, page, polls = ops_board_page(browser, server)
    socket_down = True

    def board_socket(route):
        # A proxy that drops the board's socket while `socket_down`; HTTP still works.
        if socket_down:
            route.close()
        else:
            route.connect_to_server()

    page.route_web_socket("**/ws/ops/live/", board_socket)
    try:
        sign_in_to_board(page, server)
        expect(page.locator("#live-status")).to_have_text("Reconnecting…", timeout=10000)

        first = open_ticket_over_http(server)
        expect(page.locator("#tickets").get_by_role("button", name=f"Open #{first['id']}")).to_be_visible(
            timeout=8000)
        assert polls, "the board should poll while its socket is down"

        socket_down = False
        # Backoff doubles from 1 s: the next attempt comes within 16 s of the first failures.
        expect(page.locator("#live-status")).to_have_text("Live", timeout=20000)
        polls_when_live = len(polls)
        second = open_ticket_over_http(server, language="fr")
        expect(page.locator("#tickets").get_by_role("button", name=f"Open #{second['id']}")).to_be_visible(
            timeout=5000)
        expect(page.locator("#queue-length")).to_have_text("2")
        page.wait_for_timeout(3500)  # longer than the polling period
        assert len(polls) == polls_when_live
    finally:
        context.close()

"""Every page under the Content-Security-Policy, in a real Chromium: no violation reported, and
each page still does its job (charts drawn, sockets live, the widget chats, Swagger UI renders).
Plus the other security headers a page carries."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import expect

from tests.factories.tickets import on_shift_worker
from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory
from tests.reports.data import build_report_data
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("skill_catalogue")]

# Recorded before any script of the page runs (Playwright's init scripts are exempt from the CSP).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""


def _watch(context) -> list[str]:
    """Console errors that mention the Content Security Policy, across every page of the context."""
    context.add_init_script(RECORD_VIOLATIONS)
    reports: list[str] = []
    context.on("console", lambda msg: reports.append(msg.text)
               if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text else None)
    return reports


def _no_violation(page, reports: list[str]) -> None:
    assert page.evaluate("window.__csp") == [], page.url
    assert reports == [], page.url


def _sign_in(page, server, username: str, next_url: str) -> None:
    page.goto(f"{server.url}/login/?next={quote(next_url)}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def test_pages_work_under_the_csp_with_no_violation(browser, asgi_server_factory):
    port = free_port()
    server = asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
                                 RATELIMIT_ENABLE="false")
    build_report_data()
    StaffFactory(username="fiona", role="finance")
    StaffFactory(username="olga", role="ops")
    on_shift_worker(connected=False, user__username="wendy")

    worker_context, customer_context, staff_context = (browser.new_context() for _ in range(3))
    worker_reports, customer_reports, staff_reports = (_watch(c) for c in (worker_context, customer_context,
                                                                           staff_context))
    try:
        landing = customer_context.new_page()
        landing.goto(f"{server.url}/")
        expect(landing.locator("h1").first).to_be_visible()
        _no_violation(landing, customer_reports)

        console = worker_context.new_page()
        _sign_in(console, server, "wendy", "/console/")
        expect(console.locator("#presence")).to_have_text("Online", timeout=10000)

        chat = customer_context.new_page()
        chat.goto(f"{server.url}/chat/")
        chat.get_by_label("Your name").fill("Ana")
        chat.get_by_label("Email").fill("ana@example.com")
        chat.get_by_label("Topic").select_option("general")
        chat.get_by_label("How can we help?").fill("Where is my order?")
        chat.get_by_role("button", name="Start chat").click()
        pane = console.locator(".chat", has_text="Where is my order?")
        expect(pane).to_have_count(1, timeout=10000)
        pane.get_by_label("Reply").fill("On its way.")
        pane.get_by_role("button", name="Send").click()
        expect(chat.locator(".slw-log li").nth(1)).to_contain_text("On its way.", timeout=10000)
        _no_violation(chat, customer_reports)
        _no_violation(console, worker_reports)

        board = staff_context.new_page()
        _sign_in(board, server, "olga", "/ops/live/")
        expect(board.locator("#live-status")).to_have_text("Live", timeout=10000)
        _no_violation(board, staff_reports)

        dashboard = browser.new_context()
        dashboard_reports = _watch(dashboard)
        finance = dashboard.new_page()
        _sign_in(finance, server, "fiona", "/finance/dashboard/?from=2026-11-01&to=2026-11-30")
        finance.wait_for_selector("#chart-payouts-week[data-rendered='true'] svg.main-svg", timeout=20000)
        assert finance.locator("#chart-payouts-week g.point").count() == 6
        _no_violation(finance, dashboard_reports)

        docs = dashboard.new_page()
        docs.goto(f"{server.url}/api/v1/docs/")
        expect(docs.locator(".swagger-ui .info .title")).to_contain_text("Shiftline API", timeout=20000)
        _no_violation(docs, dashboard_reports)

        admin = customer_context.new_page()
        admin.goto(f"{server.url}/admin/login/")
        expect(admin.get_by_label("Username")).to_be_visible()
        _no_violation(admin, customer_reports)
        dashboard.close()
    finally:
        for context in (worker_context, customer_context, staff_context):
            context.close()


def test_pages_carry_the_security_headers(asgi_server):
    for path in ("/", "/login/", "/chat/", "/api/v1/docs/"):
        response = httpx.get(f"{asgi_server.url}{path}", timeout=10)
        assert response.status_code == 200, path
        policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";")
                      if part.strip())
        assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
        assert policy["script-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "camera=()" in response.headers["Permissions-Policy"]
        assert "microphone=()" in response.headers["Permissions-Policy"]

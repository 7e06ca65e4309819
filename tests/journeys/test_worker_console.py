"""The console tells a worker when chats can reach them, says refusals on the page (never in a
dialog), and explains a refused socket instead of reconnecting forever."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.a11y import assert_accessible
from tests.factories.accounts import api_token_for
from tests.factories.tickets import on_shift_worker
from tests.factories.workers import ShiftClaimFactory, ShiftFactory, StaffFactory, WorkerFactory
from tests.journeys.conftest import no_horizontal_scroll, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_checked_in_early_the_console_says_when_chats_start(server, open_page):
    worker = WorkerFactory(user__username="erin", full_name="Erin Costa", timezone="Europe/Lisbon")
    starts = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=12)
    ShiftClaimFactory(worker=worker, shift=ShiftFactory(starts_at=starts, ends_at=starts + dt.timedelta(hours=2)),
                      checked_in_at=timezone.now())

    page = open_page()
    sign_in(page, server.url, "erin")
    page.goto(server.url + "/console/")
    expect(page.locator("#presence")).to_have_text("Online", timeout=15000)
    local = starts.astimezone(zoneinfo.ZoneInfo("Europe/Lisbon"))
    expect(page.locator("#shift-note")).to_contain_text(f"Chats start at {local:%H:%M}")
    assert no_horizontal_scroll(page)
    assert_accessible(page)


def test_refusals_are_said_in_the_chat_and_a_refused_console_says_why(server, open_page, asgi_server_factory):
    worker = on_shift_worker(connected=False, user__username="wendy", full_name="Wendy Park")
    ops = StaffFactory(role="ops")
    ops_headers = {"Authorization": f"Token {api_token_for(ops)}"}

    page = open_page()
    sign_in(page, server.url, "wendy")
    page.goto(server.url + "/console/")
    expect(page.locator("#presence")).to_have_text("Online", timeout=15000)
    created = httpx.post(f"{server.url}/api/v1/tickets/", timeout=10, json={
        "name": "Rosa Lima", "email": "rosa@example.com", "language": "en", "topic": "general", "message": "Hi"})
    assert created.status_code == 201, created.text
    pane = page.locator(".chat")
    expect(pane).to_have_count(1, timeout=15000)

    # The server refuses a resolve without a resolution: the chat says so (no alert dialog).
    pane.get_by_text("Resolve or transfer").click()
    pane.get_by_label("Resolution").evaluate("input => input.removeAttribute('required')")
    pane.get_by_role("button", name="Resolve").click()
    expect(pane.get_by_role("alert")).to_contain_text("resolution", timeout=10000)
    expect(pane).to_have_count(1)
    assert_accessible(page)

    # Suspended while the console is open; the connection drops (a server restart) and the
    # socket is refused from then on: the console says why and stops retrying.
    suspended = httpx.post(f"{server.url}/api/v1/workers/{worker.pk}/suspend/", headers=ops_headers,
                           json={"reason": "Quality review"}, timeout=10)
    assert suspended.status_code == 200, suspended.text
    port = server.port
    server.stop()
    asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}", RATELIMIT_ENABLE="false")
    note = page.locator("#shift-note")
    expect(note).to_contain_text("Your account cannot take chats right now (suspended)", timeout=45000)
    expect(note.get_by_role("link", name="See what this means")).to_be_visible()
    expect(page.locator("#presence")).to_have_text("Offline")
    assert_accessible(page)

"""Against a running server: the /ws/shifts/ board socket, and a person's whole journey in a browser."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.factories.accounts import api_token_for
from tests.factories.workers import DEFAULT_PASSWORD, ShiftFactory, StaffFactory, WorkerFactory
from tests.servers import free_port
from workers.models import ShiftClaim, Worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _token(user) -> str:
    return api_token_for(user)


async def _claim_while_listening(server, watcher_token: str, claimer_token: str, shift_id: int) -> tuple[int, dict]:
    async with websockets.connect(f"{server.ws_url}/ws/shifts/?token={watcher_token}") as socket:
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{server.url}/api/v1/shifts/{shift_id}/claim/",
                                         headers={"Authorization": f"Token {claimer_token}"})
        event = json.loads(await asyncio.wait_for(socket.recv(), 5))
        return response.status_code, event


def test_board_socket_broadcasts_seat_changes_after_commit(asgi_server):
    watcher, claimer = WorkerFactory(), WorkerFactory()
    shift = ShiftFactory(capacity=3)

    status, event = asyncio.run(_claim_while_listening(asgi_server, _token(watcher.user), _token(claimer.user),
                                                      shift.pk))

    assert status == 201
    assert event == {"type": "shift.updated", "shift": shift.pk, "capacity": 3, "seats_taken": 1, "seats_left": 2,
                     "rate_multiplier": "1.00", "status": "published"}


async def _handshake_status(url: str) -> int | None:
    try:
        async with websockets.connect(url):
            return None
    except websockets.exceptions.InvalidStatus as exc:
        return exc.response.status_code


def test_board_socket_refuses_anonymous(asgi_server):
    assert asyncio.run(_handshake_status(f"{asgi_server.ws_url}/ws/shifts/")) == 403
    assert asyncio.run(_handshake_status(f"{asgi_server.ws_url}/ws/shifts/?token=nope")) == 403


def _sign_in(context, server, username, password=DEFAULT_PASSWORD):
    page = context.new_page()
    page.goto(f"{server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    return page


@pytest.mark.browser
def test_person_applies_ops_approves_and_worker_claims_on_the_board(browser, asgi_server_factory):
    # Our own origin (with its port) is trusted through CSRF_TRUSTED_ORIGINS, as in production.
    port = free_port()
    asgi_server = asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}")
    StaffFactory(username="olga", role="ops")
    shift = ShiftFactory(capacity=2)
    WorkerFactory(user__username="watcher")
    applicant_ctx = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    ops_ctx = browser.new_context()
    watcher_ctx = browser.new_context()
    try:
        # A person applies on the public page.
        page = applicant_ctx.new_page()
        page.goto(f"{asgi_server.url}/apply/")
        page.get_by_label("Full name").fill("Bea Costa")
        page.get_by_label("Email").fill("bea@example.com")
        page.get_by_label("Username").fill("bea")
        page.get_by_label("Password").fill("Sunny-river-42")
        page.get_by_label("Country").select_option("PT")
        page.get_by_label("Timezone").select_option("Europe/Lisbon")
        page.get_by_label("English", exact=True).check()  # checkbox pickers, no multi-select
        page.get_by_label("Portuguese", exact=True).check()
        page.get_by_label("Payments", exact=True).check()
        with page.expect_navigation():
            page.get_by_role("button", name="Apply").click()
        assert page.url.endswith("/application/")  # the status page: what happens next
        bea = Worker.objects.get(user__username="bea")
        assert bea.status == "applied"

        # Ops approve from the vetting queue.
        ops = _sign_in(ops_ctx, asgi_server, "olga")
        ops.goto(f"{asgi_server.url}/ops/vetting/")
        row = ops.locator('tr[data-username="bea"]')
        row.get_by_label("Reason").fill("Strong languages")
        with ops.expect_navigation():
            row.get_by_role("button", name="Approve").click()
        assert "Bea Costa is now approved." in ops.get_by_role("status").first.inner_text()
        bea.refresh_from_db()
        assert bea.status == "approved"

        # Another worker watches the board: the seat count changes live, without a reload.
        watcher = _sign_in(watcher_ctx, asgi_server, "watcher")
        watcher.goto(f"{asgi_server.url}/shifts/")
        watcher_row = watcher.locator(f'tr[data-shift-id="{shift.pk}"]')
        assert watcher_row.locator(".seats-left").inner_text() == "2"
        watcher.wait_for_selector('#shift-board[data-live="true"]')

        # The worker claims on the board with one click and sees it in My shifts.
        page.goto(f"{asgi_server.url}/shifts/")
        row = page.locator(f'tr[data-shift-id="{shift.pk}"]')
        with page.expect_navigation():
            row.get_by_role("button", name="Claim").click()
        assert page.locator(f'tr[data-shift-id="{shift.pk}"]').get_by_role("button", name="Release").is_visible()
        watcher_row.locator(".seats-left", has_text="1").wait_for(timeout=5000)
        page.get_by_role("link", name="My shifts").click()
        page.wait_for_url("**/my-shifts/")
        assert page.locator(f'li[data-shift-id="{shift.pk}"]').count() == 1
        claim = ShiftClaim.objects.get(shift=shift)
        assert (claim.worker_id, claim.status) == (bea.pk, "active")
    finally:
        for context in (applicant_ctx, ops_ctx, watcher_ctx):
            context.close()


@pytest.mark.browser
def test_board_shows_pay_per_case_in_money_and_a_rate_change_live(browser, asgi_server):
    """The default rate card pays EUR 5.00 a case; ops raise the shift's rate to ×1.10 and every open
    board shows EUR 5.50 without a reload."""
    ops = StaffFactory(role="ops")
    shift = ShiftFactory(capacity=2, rate_multiplier="1.00", max_rate_multiplier="1.20")
    WorkerFactory(user__username="watcher")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = _sign_in(context, asgi_server, "watcher")
        page.goto(f"{asgi_server.url}/shifts/")
        pay = page.locator(f'tr[data-shift-id="{shift.pk}"] td[data-label="Pay"]')
        assert pay.inner_text().strip() == "EUR 5.00 per case"
        page.wait_for_selector('#shift-board[data-live="true"]')

        raised = httpx.patch(f"{asgi_server.url}/api/v1/shifts/{shift.pk}/", json={"rate_multiplier": "1.10"},
                             headers={"Authorization": f"Token {_token(ops)}"}, timeout=10)

        assert raised.status_code == 200, raised.text
        pay.locator(".rate", has_text="EUR 5.50").wait_for(timeout=5000)
        assert "×" not in pay.inner_text()
    finally:
        context.close()

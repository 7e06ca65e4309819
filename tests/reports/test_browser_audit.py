"""Ops, in a real browser set to Tokyo time, search the audit trail: newest first, filtered,
times in the browser's timezone, and the page passes the accessibility check."""

from __future__ import annotations

import zoneinfo

import pytest

from kernel.audit.models import AuditAction, AuditEntry
from kernel.audit.services import record
from tests.a11y import assert_accessible
from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory, WorkerFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_ops_search_the_audit_trail_in_their_timezone(browser, asgi_server):
    ops = StaffFactory(username="olga", role="ops")
    worker = WorkerFactory()
    first = record(AuditAction.WORKER_APPROVE, actor=ops, target=worker, ip="203.0.113.1",
                   before={"status": "applied"}, after={"status": "approved"})
    last = record(AuditAction.AUTH_LOGIN_FAILED, username="mallory", ip="198.51.100.2")
    context = browser.new_context(timezone_id="Asia/Tokyo")
    page = context.new_page()
    try:
        page.goto(f"{asgi_server.url}/login/?next=/ops/audit/")
        page.get_by_label("Username").fill("olga")
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/ops/audit/?tz=Asia%2FTokyo")
        rows = page.locator("#audit-table tbody tr")
        sign_in = AuditEntry.objects.get(action=AuditAction.AUTH_LOGIN, actor=ops)  # her own sign-in, newest
        assert [rows.nth(i).get_attribute("data-entry") for i in range(rows.count())] == [
            str(sign_in.pk), str(last.pk), str(first.pk)]
        first.refresh_from_db()
        tokyo = first.at.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
        assert page.locator(f"tr[data-entry='{first.pk}'] time").inner_text() == tokyo.strftime("%Y-%m-%d %H:%M:%S JST")
        assert_accessible(page)

        page.get_by_label("Action").select_option("worker.approve")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**action=worker.approve**")
        assert rows.count() == 1
        assert "203.0.113.1" in rows.first.inner_text()

        page.get_by_label("From", exact=True).fill("2026-03-02")
        page.get_by_label("To", exact=True).fill("2026-03-01")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**to=2026-03-01**")
        assert "Must be on or after" in page.get_by_role("alert").inner_text()
        assert_accessible(page)
    finally:
        context.close()
    assert AuditEntry.objects.count() == 3  # searching wrote nothing


def test_workers_and_finance_may_not_open_it(client):
    for user in (WorkerFactory().user, StaffFactory(role="finance")):
        client.force_login(user)
        assert client.get("/ops/audit/").status_code == 403

"""The worker's monthly statement as a PDF: the same figures as the page, for its worker only."""

from __future__ import annotations

import datetime as dt
import io
import re
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from payouts import earnings, runs
from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory, WorkerFactory

SUMMARY_ROW = re.compile(r'<tr><th scope="row">([^<]+)</th><td class="amount" data-testid="(\w+)">'
                         r"(?:<strong>)?([^<]+)(?:</strong>)?</td></tr>")


def _login(user) -> Client:
    client = Client()
    # Through the sign-in page (the lockout needs the request, which Client.login does not pass).
    signed_in = client.post("/login/", {"username": user.username, "password": DEFAULT_PASSWORD})
    assert signed_in.status_code == 302, signed_in.content
    return client


def _pdf_text(response) -> str:
    reader = PdfReader(io.BytesIO(response.content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


@pytest.fixture
def before_this_month(monkeypatch):
    """`with before_this_month():` the clock (and so every row's `created_at`) reads three days
    before this month began: the ledger refuses to backdate its rows afterwards."""
    real_now = timezone.now

    @contextmanager
    def clock():
        then = real_now().replace(day=1, hour=12, minute=0, second=0, microsecond=0) - dt.timedelta(days=3)
        monkeypatch.setattr(timezone, "now", lambda: then)
        try:
            yield then
        finally:
            monkeypatch.setattr(timezone, "now", real_now)

    return clock


@pytest.fixture
def month_of_work(db, payouts_inline, stripe_sandbox, ready_worker_factory, earn, before_this_month):
    """A worker with 10.00 owed from last month; this month 10.00 of settled case pay, a 1.00
    CSAT bonus, 5.00 of case pay voided on reopen, then a payout of the 20.00 available."""
    worker = ready_worker_factory(full_name="Ana Silva")
    with before_this_month():
        earn(worker, cases=2)
    rated = earn(worker, cases=2)
    earnings.earning_post_csat_bonus(ticket_id=rated[0].pk, resolution_n=1)
    reopened = earn(worker, cases=1, settled=False)
    earnings.earnings_void_for_reopen(ticket_id=reopened[0].pk, resolution_n=1, reopened_at=timezone.now())
    run = runs.payout_run_create()
    runs.payout_run_execute(run_id=run.pk)
    return SimpleNamespace(worker=worker, rated=rated, reopened=reopened[0], payout=worker.payouts.get())


def test_statement_pdf_shows_the_same_figures_as_the_page(month_of_work):
    worker = month_of_work.worker
    month = timezone.now().strftime("%Y-%m")
    client = _login(worker.user)

    page = client.get(f"/earnings/statement/?month={month}")
    response = client.get(f"/earnings/statement/?month={month}&format=pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="shiftline-statement-{month}-worker-{worker.pk}.pdf"')
    assert "no-store" in response["Cache-Control"]
    html = page.content.decode()
    summary = {key: (label, amount) for label, key, amount in SUMMARY_ROW.findall(html)}
    assert summary == {
        "opening": ("Opening balance", "EUR 10.00"),
        "earnings": ("Case pay earned", "EUR 15.00"),
        "bonuses": ("CSAT bonuses", "EUR 1.00"),
        "voids": ("Voided (reopened cases)", "−EUR 5.00"),
        "adjustments": ("Adjustments", "EUR 0.00"),
        "payouts": ("Payouts to Stripe", "−EUR 20.00"),
        "reversals": ("Reversed transfers returned", "EUR 0.00"),
        "closing": ("Closing balance", "EUR 1.00"),
    }
    text = _pdf_text(response)
    for label, amount in summary.values():
        assert f"{label} {amount}" in text
    assert f"Ana Silva · worker #{worker.pk} · EUR" in text
    today = timezone.now().strftime("%Y-%m-%d")
    first, second = month_of_work.rated
    assert f"{today} #{first.pk} Case pay Paid EUR 5.00 {today} #{second.pk} Case pay Paid EUR 5.00" in text
    assert f"{today} #{first.pk} CSAT bonus Pending EUR 1.00" in text
    assert f"{today} #{month_of_work.reopened.pk} Case pay Voided EUR 5.00" in text
    assert text.count("Case pay") == 4  # the summary row and this month's three cases, not last month's
    assert f"{today} {month_of_work.payout.stripe_transfer_id} EUR 20.00" in text
    assert f'href="?month={month}&amp;format=pdf"' in html


def test_another_worker_gets_only_their_own_statement(month_of_work):
    other = WorkerFactory(full_name="Ben Otto")
    month = timezone.now().strftime("%Y-%m")

    # There is no worker in the URL; a `worker` parameter is not read either.
    response = _login(other.user).get(
        f"/earnings/statement/?month={month}&format=pdf&worker={month_of_work.worker.pk}")

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'-worker-{other.pk}.pdf"')
    text = _pdf_text(response)
    assert "Ben Otto" in text and "Ana Silva" not in text
    assert "Opening balance EUR 0.00" in text and "Closing balance EUR 0.00" in text
    assert month_of_work.payout.stripe_transfer_id not in text and "Case pay Paid" not in text


def test_statement_pdf_is_refused_to_staff_as_the_page_is(db):
    for role in ("ops", "finance", "admin"):
        client = _login(StaffFactory(role=role))
        assert client.get("/earnings/statement/").status_code == 403
        assert client.get("/earnings/statement/?format=pdf").status_code == 403


def test_statement_pdf_sends_anonymous_visitors_to_sign_in(db):
    response = Client().get("/earnings/statement/?month=2026-11&format=pdf")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/earnings/statement/")

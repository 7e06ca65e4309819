"""The worker earnings page and statement, and finance's rate-card and payouts pages."""

from __future__ import annotations

import datetime as dt

from django.test import Client

from payouts import rate_card
from payouts.models import PayoutRun, RateCard
from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory, WorkerFactory


def _login(user) -> Client:
    client = Client()
    # Through the sign-in page (the lockout needs the request, which Client.login does not pass).
    signed_in = client.post("/login/", {"username": user.username, "password": DEFAULT_PASSWORD})
    assert signed_in.status_code == 302, signed_in.content
    return client


def test_earnings_page_shows_balances_cases_and_why_payouts_are_held(db, earn):
    worker = WorkerFactory()
    earn(worker, cases=2)
    earn(worker, cases=1, settled=False)

    page = _login(worker.user).get("/earnings/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "EUR 10.00" in html and "EUR 5.00" in html
    assert "connect a Stripe payout account" in html
    assert "Connect a payout account" in html
    assert html.count("Case pay") >= 3


def test_statement_adds_up_from_opening_to_closing(db, earn):
    worker = WorkerFactory()
    earn(worker, cases=3)
    month = dt.date.today().strftime("%Y-%m")

    page = _login(worker.user).get(f"/earnings/statement/?month={month}")

    assert page.status_code == 200
    assert page.context["figures"]["opening"] == 0
    assert page.context["figures"]["earnings"] == 1500
    assert page.context["figures"]["closing"] == 1500
    assert f'href="?month={month}&amp;format=pdf" download>Download PDF</a>' in page.content.decode()


def test_connect_button_redirects_to_stripe_onboarding(db, stripe_sandbox):
    worker = WorkerFactory()

    response = _login(worker.user).post("/earnings/payout-account/")

    assert response.status_code == 302
    assert response["Location"].startswith(f"{stripe_sandbox.url}/_sandbox/onboard/")
    worker.refresh_from_db()
    assert worker.payout_account_status == "pending"


def test_pages_are_refused_to_the_wrong_role(db):
    worker, finance = WorkerFactory(), StaffFactory(role="finance")

    assert _login(worker.user).get("/finance/rate-card/").status_code == 403
    assert _login(worker.user).get("/finance/payouts/").status_code == 403
    assert _login(finance).get("/earnings/").status_code == 403
    assert Client().get("/earnings/").status_code == 302


def test_finance_edits_the_rate_card_on_its_page(db):
    finance = StaffFactory(role="finance")
    client = _login(finance)
    version = rate_card.rate_card_current().version

    response = client.post("/finance/rate-card/", {"currency": "eur", "base_per_case": "700", "csat_bonus": "100",
                                                  "hold_hours": "72", "minimum_payout": "2000",
                                                  "reason": "Peak season"})
    bad = client.post("/finance/rate-card/", {"currency": "eur", "base_per_case": "-5", "csat_bonus": "100",
                                             "hold_hours": "72", "minimum_payout": "2000"})

    assert response.status_code == 302
    card = RateCard.objects.get(version=version + 1)
    assert (card.base_per_case, card.created_by, card.change.reason) == (700, finance, "Peak season")
    assert bad.status_code == 200 and "aria-invalid" in bad.content.decode()
    assert not RateCard.objects.filter(version=version + 2).exists()
    assert "v" + str(version + 1) in client.get("/finance/rate-card/").content.decode()


def test_finance_payouts_page_starts_a_run_without_javascript(db, payouts_inline, stripe_sandbox,
                                                              django_capture_on_commit_callbacks):
    client = _login(StaffFactory(role="finance"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/finance/payouts/")

    run = PayoutRun.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"?run={run.pk}")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "payouts-runs" in page.content.decode()
    assert run.status == "completed"

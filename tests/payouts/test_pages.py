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

    response = client.post("/finance/rate-card/", {"currency": "EUR", "base_per_case": "7.00", "csat_bonus": "1",
                                                  "hold_hours": "72", "minimum_payout": "20,50",
                                                  "reason": "Peak season"})
    bad = client.post("/finance/rate-card/", {"currency": "eur", "base_per_case": "-5", "csat_bonus": "1.005",
                                             "hold_hours": "72", "minimum_payout": "20"})

    assert response.status_code == 302
    card = RateCard.objects.get(version=version + 1)
    assert (card.base_per_case, card.csat_bonus, card.minimum_payout, card.created_by, card.change.reason) == (
        700, 100, 2050, finance, "Peak season")
    page = bad.content.decode()
    assert bad.status_code == 200 and page.count('aria-invalid="true"') == 2
    assert "Enter an amount such as 12.50." in page and "EUR has 2 decimals at most." in page
    assert not RateCard.objects.filter(version=version + 2).exists()
    page = client.get("/finance/rate-card/").content.decode()
    assert "v" + str(version + 1) in page and 'value="7.00"' in page and "minimum: EUR 20.00 → EUR 20.50" in page


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


def test_payout_run_says_who_it_left_out_and_why_in_the_api_and_on_the_page(
        db, payouts_inline, stripe_sandbox, ready_worker_factory, earn, django_capture_on_commit_callbacks):
    paid = ready_worker_factory(full_name="Paula Paid")
    earn(paid, cases=5)  # EUR 25.00 >= EUR 20.00
    small = ready_worker_factory(full_name="Sam Small")
    earn(small, cases=2)  # EUR 10.00 < EUR 20.00
    unready = WorkerFactory(full_name="Una Unready")
    earn(unready, cases=6)
    waiting = WorkerFactory(full_name="Wes Waiting")
    earn(waiting, cases=1, settled=False)  # still in the hold
    client = _login(StaffFactory(role="finance"))

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/api/v1/payouts/runs/", {}, content_type="application/json")
    run = client.get(f"/api/v1/payouts/runs/{started.json()['id']}/").json()
    page = client.get(f"/finance/payouts/?run={run['id']}").content.decode()

    assert (run["status"], run["payouts_count"], run["total"]) == ("completed", 1, 2500)
    assert [(row["worker_name"], row["reason"], row["available"]) for row in run["skipped"]] == [
        ("Sam Small", "below_minimum", 1000),
        ("Una Unready", "no_ready_payout_account", 3000),
        ("Wes Waiting", "nothing_available", 0),
    ]
    assert "Total <strong data-testid=\"run-total\">EUR 25.00</strong>" in page
    assert "Below the minimum payout: EUR 10.00 available, EUR 20.00 needed." in page
    assert "No ready payout account" in page and "Nothing available" in page
    assert "cents" not in page and "No runs yet" not in page

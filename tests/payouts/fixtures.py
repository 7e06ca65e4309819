"""Fixtures of money moving through Stripe, for the payouts and reports tests (a pytest plugin,
registered in tests/conftest.py): the real `stripe_sandbox` process, connected workers, earnings.

Stripe is only ever reached through the official SDK against the sandbox: nothing is mocked.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from django.utils import timezone

from payouts import earnings, stripe_gateway
from payouts.earnings import ResolvedCase
from tests.factories.payouts import ResolvedTicketFactory, make_ready
from tests.factories.workers import WorkerFactory
from tests.servers import StripeSandboxProcess


class SandboxControl:
    """The sandbox's control endpoints, for arranging failures and counting transfers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    def fail(self, path: str = "/v1/transfers", mode: str = "500_after", count: int = 1,
             seconds: float | None = None, method: str = "POST") -> None:
        body = {"path": path, "mode": mode, "count": count, "method": method}
        if seconds is not None:
            body["seconds"] = seconds
        self.http.post("/_sandbox/failures", json=body).raise_for_status()

    def clear_failures(self) -> None:
        self.http.delete("/_sandbox/failures").raise_for_status()

    def rate_limit(self, writes_per_second: float) -> None:
        self.http.post("/_sandbox/rate_limit", json={"writes_per_second": writes_per_second}).raise_for_status()

    def transfers(self, transfer_group: str | None = None, destination: str | None = None) -> list[dict]:
        params = {k: v for k, v in {"transfer_group": transfer_group, "destination": destination}.items() if v}
        return self.http.get("/_sandbox/transfers", params=params).json()["data"]

    def stats(self) -> dict:
        return self.http.get("/_sandbox/stats").json()

    def set_webhook(self, url: str) -> None:
        self.http.post("/_sandbox/webhook", json={"url": url}).raise_for_status()

    def send_event(self, **body) -> dict:
        response = self.http.post("/_sandbox/events", json=body)
        response.raise_for_status()
        return response.json()

    def account_status(self, account_id: str, status: str, sync: bool = True) -> dict:
        response = self.http.post(f"/_sandbox/accounts/{account_id}/status", json={"status": status, "sync": sync})
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()


@pytest.fixture
def skill_catalogue(django_db_setup, django_db_blocker):
    """The skill catalogue `migrate` seeds: a transactional test's flush empties it, and the
    ticket factories need `general`. Committed before the test starts (it is static data)."""
    from workers.models import Skill

    with django_db_blocker.unblock():
        for code in ("general", "payments", "refunds", "orders", "account", "disputes"):
            Skill.objects.get_or_create(code=code, defaults={"name": code.title()})


@pytest.fixture(scope="session")
def _sandbox_process():
    process = StripeSandboxProcess()
    yield process
    process.stop()


@pytest.fixture
def stripe_sandbox(_sandbox_process, settings):
    """`manage.py stripe_sandbox` running as a subprocess on a free port (one per test session,
    reset for every test); `settings.STRIPE_API_BASE` points at it for the test."""
    control = SandboxControl(_sandbox_process.url)
    control.reset()
    settings.STRIPE_API_BASE = _sandbox_process.url
    stripe_gateway._local.__dict__.clear()
    yield control
    control.set_webhook("")
    control.rate_limit(0)
    stripe_gateway._local.__dict__.clear()


@pytest.fixture
def payouts_inline(settings):
    """Send transfers inline (no threads), so tests inside a transaction see their own rows."""
    settings.PAYOUTS = {**settings.PAYOUTS, "SEND_CONCURRENCY": 1, "BACKOFF_BASE": 0.01, "BACKOFF_CAP": 0.05}


@pytest.fixture
def ready_worker_factory(stripe_sandbox):
    """`ready_worker_factory()`: an approved worker with a connected, onboarded sandbox account."""

    def make(**kwargs):
        worker = WorkerFactory(**kwargs)
        account = stripe_gateway.account_create(worker_id=worker.pk, email=worker.user.email, country="PT")
        stripe_sandbox.account_status(account.id, "ready", sync=False)
        return make_ready(worker, account.id)

    return make


@pytest.fixture
def earn():
    """`earn(worker, cases=5, settled=True)`: post case pay for `cases` resolved tickets through
    the services (no Stripe), optionally with the hold already passed and settled."""

    def make(worker, cases: int = 1, settled: bool = True, multiplier: str = "1.00"):
        from decimal import Decimal

        resolved_at = timezone.now() - (dt.timedelta(hours=100) if settled else dt.timedelta(0))
        tickets = []
        for _ in range(cases):
            ticket = ResolvedTicketFactory(assigned_worker=worker)
            earnings.earnings_post_case_pay(cases=[ResolvedCase(
                ticket_id=ticket.pk, worker_id=worker.pk, multiplier=Decimal(multiplier), resolved_at=resolved_at)])
            tickets.append(ticket)
        if settled:
            earnings.earnings_settle()
        return tickets

    return make

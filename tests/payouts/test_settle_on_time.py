"""Earnings become available when their hold ends, to the minute: the settlement sweep runs every
`PAYOUT_SETTLE_EVERY_SECONDS` (60 by default, not hourly), so "Available from 04:46" is true.
Checked with a real Celery worker and beat on a short sweep interval."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from payouts import earnings
from payouts.earnings import ResolvedCase
from payouts.models import Earning, EarningStatus
from payouts.rate_card import rate_card_current
from tests.factories.payouts import ResolvedTicketFactory
from tests.factories.workers import WorkerFactory
from tests.servers import CeleryWorker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_settlement_sweep_runs_every_minute_by_default():
    assert settings.CELERY_BEAT_SCHEDULE["payouts-settle"] == {
        "task": "payouts.settle_earnings", "schedule": dt.timedelta(seconds=60)}


def test_an_earning_becomes_available_within_the_sweep_interval_of_its_hold_end(skill_catalogue):
    worker = WorkerFactory()
    ticket = ResolvedTicketFactory(assigned_worker=worker)
    hold = dt.timedelta(hours=rate_card_current().hold_hours)
    earnings.earnings_post_case_pay(cases=[ResolvedCase(
        ticket_id=ticket.pk, worker_id=worker.pk, multiplier=Decimal("1.00"),
        resolved_at=timezone.now() - hold + dt.timedelta(seconds=6))])
    earning = Earning.objects.get()
    assert earning.status == EarningStatus.PENDING

    celery = CeleryWorker("--beat", PAYOUT_SETTLE_EVERY_SECONDS="2")
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            earning.refresh_from_db()
            if earning.status == EarningStatus.AVAILABLE:
                break
            time.sleep(0.5)
        assert earning.status == EarningStatus.AVAILABLE, celery.log()[-3000:]
        assert earning.settled_at is not None
        late = earning.settled_at - earning.available_at
        assert dt.timedelta(0) <= late < dt.timedelta(seconds=5), late
    finally:
        celery.stop()

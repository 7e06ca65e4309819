"""`seed_demo` builds a living demo through the services: 30 days of history that every report can
chart, a ready payout account, a payout run that paid and explained itself, canned responses,
`ana` and `ben` on shift now; a second run changes nothing, and each takes under a minute."""

from __future__ import annotations

import datetime as dt
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models.functions import TruncDate
from django.utils import timezone

from kernel.outbox.models import OutboxEvent
from payouts.models import Earning, EarningKind, EarningStatus, JournalTransaction, Payout, PayoutRun, PayoutStatus
from tickets.models import CannedResponse, Message, Ticket, TicketStatus
from workers.models import ClaimStatus, Shift, ShiftClaim, Worker

pytestmark = pytest.mark.django_db(transaction=True)


def _counts() -> dict[str, int]:
    return {"tickets": Ticket.objects.count(), "messages": Message.objects.count(),
            "earnings": Earning.objects.count(), "journal": JournalTransaction.objects.count(),
            "payouts": Payout.objects.count(), "runs": PayoutRun.objects.count(), "shifts": Shift.objects.count(),
            "claims": ShiftClaim.objects.count(), "canned": CannedResponse.objects.count(),
            "events": OutboxEvent.objects.count()}


def test_seed_demo_builds_thirty_days_of_history_through_the_services_once(
        skill_catalogue, stripe_sandbox, payouts_inline, finance_client):
    started = time.monotonic()
    call_command("seed_demo", stdout=StringIO())
    first_run = time.monotonic() - started
    after_first = _counts()
    started = time.monotonic()
    call_command("seed_demo", stdout=StringIO())
    second_run = time.monotonic() - started

    assert first_run < 60 and second_run < 60, (first_run, second_run)
    assert _counts() == after_first  # nothing duplicated, nothing changed
    now = timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)  # the customers waiting now came later
    days = set(Ticket.objects.filter(created_at__lt=midnight).annotate(day=TruncDate("created_at"))
               .values_list("day", flat=True))
    assert len(days) == 30
    assert Ticket.objects.filter(status=TicketStatus.RESOLVED, first_response_at__isnull=False,
                                 rating__isnull=False).count() >= 50
    assert Ticket.objects.filter(resolution_count__gt=1).exists()  # reopened and resolved again
    assert Earning.objects.filter(status=EarningStatus.VOIDED).exists()
    assert Earning.objects.filter(kind=EarningKind.CSAT_BONUS).exists()
    assert Earning.objects.filter(status=EarningStatus.PAID).exists()
    assert len({e.date() for e in Earning.objects.values_list("earned_at", flat=True)}) == 30

    today, start = now.date(), now.date() - dt.timedelta(days=30)
    operations = finance_client.get(f"/api/v1/reports/operations/?from={start}&to={today}").json()
    assert operations["totals"]["tickets_created"] >= 100 and operations["totals"]["csat_average"], operations
    charted = [row for row in operations["by_day"] if row["tickets_resolved"] and row["csat_count"]
               and row["first_response_median_seconds"] and row["case_cost"]]
    assert len(charted) == 30, operations["by_day"]
    by_day = finance_client.get(f"/api/v1/reports/payouts/breakdown/?by=day&from={start}&to={today}").json()
    assert len([row for row in by_day["results"] if row["gross"] > 0]) == 30, by_day

    ana = Worker.objects.get(user__username="ana")
    assert ana.payout_account_status == "ready" and ana.stripe_account_id
    runs = list(PayoutRun.objects.order_by("created_at"))
    assert [run.status for run in runs] == ["completed"] * 4
    # weekly, on their own days, the last today; each paid ana on its day
    assert [(now - run.created_at).days for run in runs] == [21, 14, 7, 0]
    paid = list(Payout.objects.order_by("paid_at").values_list("worker__user__username", "status", "paid_at"))
    assert [(name, status) for name, status, _ in paid] == [("ana", PayoutStatus.PAID)] * 4
    assert [paid_at for _, _, paid_at in paid] == [run.finished_at for run in runs]
    for run in runs:
        assert sorted((row["worker_name"], row["reason"]) for row in run.skipped) == [
            ("Ben Okafor", "no_ready_payout_account"), ("Chloé Martin", "no_ready_payout_account")]
    paid_days = finance_client.get(f"/api/v1/reports/payouts/breakdown/?by=day&from={start}&to={today}").json()
    assert len([row for row in paid_days["results"] if row["paid"] > 0]) == 4, paid_days
    assert CannedResponse.objects.filter(body__contains="{worker_first_name}").exists()
    on_shift_now = ShiftClaim.objects.filter(status=ClaimStatus.ACTIVE, starts_at__lte=now, ends_at__gt=now,
                                             checked_in_at__isnull=False, shift__language="en")
    assert sorted(on_shift_now.values_list("worker__user__username", flat=True)) == ["ana", "ben"]
    call_command("verify_ledger", stdout=StringIO())  # raises when the ledger does not balance

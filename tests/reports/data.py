"""The known data set of the report tests, with every expected figure computed by hand below.

November 2026 is the range under test; rows just outside it (October, December) must not count.
Rows are written with the ORM, as the services would leave them: the reports only read tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from payouts.models import Earning, Payout, PayoutRun, RateCard
from tests.factories.workers import ShiftClaimFactory, ShiftFactory, WorkerFactory
from tickets.models import Ticket
from workers.models import Skill

_token = itertools.count(1)


def at(day: str, time: str = "00:00:00") -> dt.datetime:
    """`at("11-02", "10:00")` → 2026-11-02 10:00 UTC (`"10-31"` is October)."""
    return dt.datetime.fromisoformat(f"2026-{day}T{time}").replace(tzinfo=dt.UTC)


def make_ticket(*, created: dt.datetime, language: str = "en", topic: str = "general", status: str = "queued",
                worker=None, first_response_after: float | None = None, resolved: dt.datetime | None = None,
                abandoned: dt.datetime | None = None, rating: int | None = None,
                rated: dt.datetime | None = None) -> Ticket:
    token = f"report-test-{next(_token)}-{created.isoformat()}"
    ticket = Ticket.objects.create(
        token_hash=hashlib.sha256(token.encode()).hexdigest(), customer_name="Customer",
        customer_email="customer@example.com", language=language, topic_id=topic, status=status,
        assigned_worker=worker if status in ("assigned", "resolved") else None,
        resolved_by=worker if resolved else None, rating=rating,
    )
    Ticket.objects.filter(pk=ticket.pk).update(
        created_at=created,
        first_response_at=created + dt.timedelta(seconds=first_response_after)
        if first_response_after is not None else None,
        resolved_at=resolved, abandoned_at=abandoned, rated_at=rated,
        resolution_count=1 if resolved else 0,
    )
    ticket.refresh_from_db()
    return ticket


def make_earning(*, worker, ticket, amount: int, earned: dt.datetime, status: str, kind: str = "case_pay",
                 payout: Payout | None = None, currency: str = "eur", claim_id: int | None = None) -> Earning:
    card = RateCard.objects.order_by("-version").first()
    return Earning.objects.create(
        worker=worker, ticket=ticket, kind=kind, amount=amount, currency=currency, status=status, rate_card=card,
        earned_at=earned, available_at=earned + dt.timedelta(hours=72), payout=payout,
        voided_at=earned + dt.timedelta(hours=1) if status == "voided" else None, claim_id=claim_id,
    )


def make_payout(*, worker, amount: int, status: str, created: dt.datetime, paid: dt.datetime | None = None,
                transfer_id: str = "", reversed_amount: int = 0, reversed_at: dt.datetime | None = None,
                run: PayoutRun | None = None, currency: str = "eur") -> Payout:
    run = run or PayoutRun.objects.create(status="completed", transfer_group=f"run-{next(_token)}")
    payout = Payout.objects.create(
        run=run, worker=worker, amount=amount, currency=currency, status=status,
        destination=worker.stripe_account_id or "acct_test", stripe_transfer_id=transfer_id,
        idempotency_key=f"payout-test-{next(_token)}", paid_at=paid, reversed_amount=reversed_amount,
        reversed_at=reversed_at,
    )
    Payout.objects.filter(pk=payout.pk).update(created_at=created)
    payout.refresh_from_db()
    return payout


@dataclass
class ReportData:
    ana: object
    ben: object
    cleo: object
    shift: object = None
    tickets: dict = field(default_factory=dict)
    payouts: dict = field(default_factory=dict)


def build_report_data() -> ReportData:
    # A transactional test before this one may have flushed the catalogue the migrations seeded.
    for code in ("general", "payments", "refunds"):
        Skill.objects.get_or_create(code=code, defaults={"name": code.title()})
    RateCard.objects.get_or_create(
        version=1, defaults={"currency": "eur", "base_per_case": 500, "csat_bonus": 100, "hold_hours": 72,
                             "minimum_payout": 2000},
    )
    ana = WorkerFactory(full_name="Ana Silva", country="PT", stripe_account_id="acct_ana",
                        payout_account_status="ready", languages=["en"])
    ben = WorkerFactory(full_name="Ben Otto", country="DE", stripe_account_id="acct_ben",
                        payout_account_status="ready", languages=["en", "de"])
    cleo = WorkerFactory(full_name="Cleo Dubois", country="FR", stripe_account_id="acct_cleo",
                         payout_account_status="ready")
    t = {
        # created 11-02; first response 20 s; resolved after 600 s; rated 5
        "t1": make_ticket(created=at("11-02", "10:00:00"), topic="payments", status="resolved", worker=ana,
                          first_response_after=20, resolved=at("11-02", "10:10:00"), rating=5,
                          rated=at("11-02", "10:15:00")),
        # created 11-02; 40 s; resolved the next day after 86,400 s; rated 3 on 11-03
        "t2": make_ticket(created=at("11-02", "11:00:00"), topic="refunds", status="resolved", worker=ana,
                          first_response_after=40, resolved=at("11-03", "11:00:00"), rating=3,
                          rated=at("11-03", "12:00:00")),
        # German; 100 s; resolved after 1,800 s; rated 4
        "t3": make_ticket(created=at("11-03", "09:00:00"), language="de", topic="payments", status="resolved",
                          worker=ben, first_response_after=100, resolved=at("11-03", "09:30:00"), rating=4,
                          rated=at("11-03", "09:40:00")),
        # German, still open; answered after 400 s (past midnight: counts on its creation day)
        "t4": make_ticket(created=at("11-03", "23:59:00"), language="de", status="assigned", worker=ben,
                          first_response_after=400),
        # abandoned in the queue, never answered
        "t5": make_ticket(created=at("11-05", "08:00:00"), status="abandoned", abandoned=at("11-05", "08:03:00")),
        # created in October, resolved (5,400 s) and rated 1 in November
        "t6": make_ticket(created=at("10-31", "23:00:00"), topic="payments", status="resolved", worker=ben,
                          first_response_after=30, resolved=at("11-01", "00:30:00"), rating=1,
                          rated=at("11-01", "01:00:00")),
        # created on the last evening, answered after 5 s, resolved in December
        "t7": make_ticket(created=at("11-30", "23:50:00"), topic="payments", status="resolved", worker=ana,
                          first_response_after=5, resolved=at("12-01", "00:10:00")),
        # December: outside the range altogether
        "t8": make_ticket(created=at("12-01", "00:00:00"), first_response_after=1, status="abandoned",
                          abandoned=at("12-01", "00:01:00")),
        # answered after 3,700 s, resolved after 7,200 s
        "t9": make_ticket(created=at("11-10", "12:00:00"), status="resolved", worker=ana,
                          first_response_after=3700, resolved=at("11-10", "14:00:00")),
        # resolved, then reopened (queued again): not a resolution; its case pay was voided
        "t10": make_ticket(created=at("11-12", "10:00:00"), status="queued", first_response_after=60,
                           resolved=at("11-12", "10:20:00")),
        # an October case of Ben's, paid in October
        "t0": make_ticket(created=at("10-20", "09:00:00"), status="resolved", worker=ben,
                          first_response_after=10, resolved=at("10-20", "09:20:00")),
    }
    p = {
        "p1": make_payout(worker=ana, amount=600, status="paid", created=at("11-20", "11:59:00"),
                          paid=at("11-20", "12:00:00"), transfer_id="tr_ana_1"),
        "p2": make_payout(worker=ben, amount=500, status="paid", created=at("10-25", "12:00:00"),
                          paid=at("10-25", "12:00:05"), transfer_id="tr_ben_0", reversed_amount=200,
                          reversed_at=at("11-21", "08:00:00")),
        "p3": make_payout(worker=ben, amount=500, status="in_transit", created=at("11-28", "12:00:00")),
        "p4": make_payout(worker=cleo, amount=3000, status="paid", created=at("11-15", "09:00:00"),
                          paid=at("11-15", "09:00:02"), transfer_id="tr_cleo_1"),
    }
    make_earning(worker=ana, ticket=t["t1"], amount=500, earned=at("11-02", "10:10:00"), status="paid", payout=p["p1"])
    make_earning(worker=ana, ticket=t["t1"], amount=100, earned=at("11-02", "10:15:00"), status="paid",
                 kind="csat_bonus", payout=p["p1"])
    make_earning(worker=ana, ticket=t["t2"], amount=500, earned=at("11-03", "11:00:00"), status="available")
    shift = ShiftFactory(starts_at=at("11-03", "08:00:00"), ends_at=at("11-03", "12:00:00"), language="de",
                         rate_multiplier=Decimal("1.25"))
    claim = ShiftClaimFactory(shift=shift, worker=ben, status="completed")
    make_earning(worker=ben, ticket=t["t3"], amount=625, earned=at("11-03", "09:30:00"), status="pending",
                 claim_id=claim.pk)
    make_earning(worker=ben, ticket=t["t6"], amount=500, earned=at("11-01", "00:30:00"), status="in_payout",
                 payout=p["p3"])
    make_earning(worker=ana, ticket=t["t9"], amount=500, earned=at("11-10", "14:00:00"), status="available")
    make_earning(worker=ana, ticket=t["t10"], amount=500, earned=at("11-12", "10:20:00"), status="voided")
    make_earning(worker=ana, ticket=t["t7"], amount=500, earned=at("12-01", "00:10:00"), status="pending")
    make_earning(worker=ben, ticket=t["t0"], amount=500, earned=at("10-20", "09:20:00"), status="paid",
                 payout=p["p2"])
    return ReportData(ana=ana, ben=ben, cleo=cleo, shift=shift, tickets=t, payouts=p)

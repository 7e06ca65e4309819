"""`python manage.py seed_demo`: a living demo, written through the same services as the product.

Accounts (the logins API.md lists), 30 days of history (a shift a day, customers' tickets with
conversations, resolutions, ratings and reopens, so case pay and bonuses are earned through the
outbox), settlement, a payout run against the Stripe sandbox with one worker's payout account
ready, canned responses, and shifts around now with `ana` and `ben` checked into one running now.

Past moments go through the services' `at=` parameter: nothing is inserted or edited by hand.
Safe to run again: each part is skipped when it is already there (a second run changes nothing).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from decimal import Decimal

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from kernel.outbox.models import OutboxEvent
from kernel.outbox.services import outbox_deliver, outbox_drain
from payouts.earnings import earnings_settle
from payouts.models import PayoutRun
from payouts.runs import payout_run_create, payout_run_execute
from payouts.stripe_connect import payout_account_onboarding_url, payout_account_status_from
from payouts.stripe_gateway import account_retrieve
from tickets.canned_responses import canned_response_create
from tickets.models import CannedResponse, Ticket, TicketStatus
from tickets.services import (
    agent_presence_connect,
    agent_presence_disconnect,
    message_post,
    ticket_create,
    ticket_rate,
    ticket_reopen,
    ticket_resolve,
)
from workers.models import (
    ClaimStatus,
    Role,
    Shift,
    ShiftClaim,
    Skill,
    User,
    Worker,
    WorkerLanguage,
    WorkerStatus,
)
from workers.payout_account import payout_account_status_set
from workers.services.accounts import staff_role_apply
from workers.services.claims import claim_complete_at_end, shift_check_in, shift_claim
from workers.services.shifts import shift_create

STAFF = [("ops", Role.OPS, "shiftline-ops"), ("finance", Role.FINANCE, "shiftline-finance"),
         ("admin", Role.ADMIN, "shiftline-admin")]
WORKERS = [
    ("ana", "Ana Ribeiro", "PT", "Europe/Lisbon", ["en", "pt"]),
    ("ben", "Ben Okafor", "NG", "Africa/Lagos", ["en"]),
    ("chloe", "Chloé Martin", "FR", "Europe/Paris", ["en", "fr"]),
]
WORKER_PASSWORD = "shiftline-worker"
HISTORY_DAYS = 30
PAYOUT_WEEKS = 4  # weekly payout runs, the last one today
# Customers of the history are recognisable by their address; their presence means it was written.
CUSTOMER_DOMAIN = "customers.shiftline.test"
CUSTOMERS = ["Maria Lopez", "Tom Becker", "Aiko Tanaka", "Lena Svensson", "Omar Haddad", "Priya Nair",
             "Jonas Weber", "Sofia Rossi", "Kwame Mensah", "Emma Dubois", "Lucas Silva", "Nora Jensen"]
QUESTIONS = {
    "payments": ["My card payment failed twice this morning.", "I was charged twice for one order."],
    "refunds": ["When will my refund arrive?", "I returned the parcel a week ago and have no refund yet."],
    "orders": ["My order still says 'processing' after five days.", "Can I change the delivery address?"],
    "account": ["How do I change the email on my account?", "I can't sign in after resetting my password."],
    "disputes": ["My bank opened a dispute by mistake, what now?", "I don't recognise this charge."],
    "general": ["Do you ship to Norway?", "Is there a student discount?"],
}
REPLIES = ["Thanks for reaching out, {name}! Let me check that for you.",
           "I've looked into it: it's sorted now. Anything else I can help with?"]
CANNED = [
    ("Greeting", "Hi {customer_first_name}, I'm {worker_first_name} and I'll help you with this today."),
    ("Checking", "Thanks, {customer_first_name}. Give me a moment while I look into ticket #{ticket_id}."),
    ("Closing", "Glad that's sorted, {customer_first_name}! If anything else comes up, just write again. "
                "— {worker_name}"),
]


class Command(BaseCommand):
    help = "Load the living demo through the services (safe to run again: nothing is duplicated)."

    def handle(self, *args, **options):
        started = time.monotonic()
        staff = self._accounts()
        workers = self._workers()
        if not Ticket.objects.filter(customer_email__endswith=f"@{CUSTOMER_DOMAIN}").exists():
            self._history(ops=staff["ops"], workers=workers)
        self._canned_responses()
        self._stripe(workers[0])
        self._shifts_now(ops=staff["ops"], workers=workers)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({time.monotonic() - started:.1f} s)."))

    # --- People ------------------------------------------------------------------------------

    def _accounts(self) -> dict[str, User]:
        users = {}
        for username, role, password in STAFF:
            user, created = User.objects.get_or_create(
                username=username, defaults={"role": role, "email": f"{username}@shiftline.test"})
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])
            staff_role_apply(user)  # the demo admin is the `admin` role, not a superuser
            users[username] = user
        return users

    def _workers(self) -> list[Worker]:
        all_skills = list(Skill.objects.all())
        workers = []
        for username, full_name, country, tz, languages in WORKERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"role": Role.WORKER, "email": f"{username}@shiftline.test"})
            if created:
                user.set_password(WORKER_PASSWORD)
                user.save(update_fields=["password"])
            worker, created = Worker.objects.get_or_create(
                user=user, defaults={"full_name": full_name, "country": country, "timezone": tz,
                                     "status": WorkerStatus.APPROVED, "status_changed_at": timezone.now()})
            if created:
                worker.skills.set(all_skills)
                for code in languages:
                    WorkerLanguage.objects.get_or_create(worker=worker, language=code)
            workers.append(worker)
        return workers

    # --- Thirty days of history -----------------------------------------------------------------

    def _history(self, *, ops: User, workers: list[Worker]) -> None:
        """A day shift for each of the last 30 days, worked by the three workers, with customers'
        tickets routed, answered, resolved, rated and sometimes reopened at their own times."""
        rng = random.Random(13)
        topics = list(Skill.objects.filter(active=True).values_list("code", flat=True))
        today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        first = today - dt.timedelta(days=HISTORY_DAYS) + dt.timedelta(hours=7)
        for worker in workers:  # consoles open while the history happens, so routing finds them
            agent_presence_connect(worker_id=worker.pk, at=first)
        try:
            for days_ago in range(HISTORY_DAYS, 0, -1):
                start = today - dt.timedelta(days=days_ago) + dt.timedelta(hours=8)
                self._history_day(ops=ops, workers=workers, start=start, rng=rng, topics=topics, days_ago=days_ago)
        finally:
            for worker in workers:  # closed at the end of the last day: nobody is in a grace period now
                agent_presence_disconnect(worker_id=worker.pk, at=today - dt.timedelta(hours=7))
        for claim_id in ShiftClaim.objects.filter(status=ClaimStatus.ACTIVE, ends_at__lte=timezone.now()) \
                .values_list("pk", flat=True):
            claim_complete_at_end(claim_id=claim_id)  # what the beat does at each shift's end
        # What the relay and the beat's drain do with these events, done now so the demo's ledger
        # is complete before settlement and the payout run: case pay in batches, then the rest in order.
        outbox_drain()
        for event_id in OutboxEvent.objects.filter(delivered_at__isnull=True).order_by("created_at", "id") \
                .values_list("pk", flat=True):
            outbox_deliver(event_id=event_id)

    def _history_day(self, *, ops: User, workers: list[Worker], start: dt.datetime, rng: random.Random,
                     topics: list[str], days_ago: int) -> None:
        shift = shift_create(actor=ops, starts_at=start, ends_at=start + dt.timedelta(hours=8), capacity=5,
                             language="en", skills=topics, rate_multiplier=Decimal("1.00") if start.weekday() < 5
                             else Decimal("1.25"), at=start - dt.timedelta(days=1))
        for worker in workers:
            shift_claim(worker_id=worker.pk, shift_id=shift.pk, at=start - dt.timedelta(hours=20))
            shift_check_in(worker_id=worker.pk, shift_id=shift.pk, at=start - dt.timedelta(minutes=5))
        count = 3 + days_ago % 3 + (1 if start.weekday() == 0 else 0)  # Mondays are busier
        for n in range(count):
            opened = start + dt.timedelta(minutes=20 + n * (420 // count) + rng.randint(0, 25))
            name = rng.choice(CUSTOMERS)
            topic = rng.choice(topics)
            ticket, _token = ticket_create(
                name=name, email=f"{name.split()[0].lower()}.{days_ago}.{n}@{CUSTOMER_DOMAIN}", language="en",
                topic=topic, message=rng.choice(QUESTIONS.get(topic, QUESTIONS["general"])), at=opened)
            if ticket.status != TicketStatus.ASSIGNED or ticket.assigned_worker is None:
                continue
            self._conversation(ticket, at=opened, rng=rng)
            resolved = opened + dt.timedelta(minutes=rng.randint(4, 14))
            ticket_resolve(ticket_id=ticket.pk, user=ticket.assigned_worker.user, at=resolved,
                           resolution="Explained the steps and confirmed with the customer.")
            if n == 2 and days_ago % 4 == 1:  # the customer comes back: the case pay of that resolution is voided
                reopened = resolved + dt.timedelta(minutes=20)
                again = ticket_reopen(ticket_id=ticket.pk, at=reopened)
                if again.status != TicketStatus.ASSIGNED or again.assigned_worker is None:
                    continue
                message_post(ticket_id=ticket.pk, body="Sorry, it happened again.", client_id="c-again",
                             at=reopened + dt.timedelta(seconds=5))
                self._conversation(again, at=reopened + dt.timedelta(seconds=30), rng=rng, greet=False)
                resolved = reopened + dt.timedelta(minutes=10)
                ticket_resolve(ticket_id=ticket.pk, user=again.assigned_worker.user, at=resolved,
                               resolution="Fixed for good this time.")
            if n == 0 or rng.random() < 0.75:  # every day has ratings to chart
                score = rng.choices([5, 4, 3, 2, 1], weights=[60, 22, 9, 5, 4])[0]
                ticket_rate(ticket_id=ticket.pk, score=score, comment="" if score > 3 else "Took a while.",
                            at=resolved + dt.timedelta(minutes=2))

    def _conversation(self, ticket: Ticket, *, at: dt.datetime, rng: random.Random, greet: bool = True) -> None:
        worker_user = ticket.assigned_worker.user  # type: ignore[union-attr]
        first = ticket.customer_name.split()[0]
        replies = REPLIES if greet else REPLIES[1:]
        for k, reply in enumerate(replies):
            message_post(ticket_id=ticket.pk, user=worker_user, body=reply.format(name=first),
                         client_id=f"w-{ticket.resolution_count}-{k}",
                         at=at + dt.timedelta(seconds=rng.randint(15, 50) + 90 * k))

    # --- Canned responses, payouts, shifts around now ------------------------------------------

    def _canned_responses(self) -> None:
        existing = set(CannedResponse.objects.values_list("title", flat=True))
        for title, body in CANNED:
            if title not in existing:
                canned_response_create(title=title, body=body)

    def _stripe(self, worker: Worker) -> None:
        """`ana`'s payout account, made ready through the Stripe sandbox's onboarding, then four
        weekly payout runs, each after the settlement of its day: she is paid in each, the others
        are listed with the reason."""
        base = settings.STRIPE_API_BASE
        try:
            reachable = bool(base) and httpx.get(f"{base.rstrip('/')}/_sandbox/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            reachable = False
        if not reachable:
            earnings_settle()
            self.stdout.write("Stripe sandbox not reachable (STRIPE_API_BASE): no payout account or payout run.")
            return
        worker.refresh_from_db()
        if worker.payout_account_status != "ready":
            public = "http://127.0.0.1:8000"
            link = payout_account_onboarding_url(
                worker=worker, refresh_url=f"{public}/earnings/payout-account/refresh/",
                return_url=f"{public}/earnings/?onboarding=returned")
            httpx.get(link, timeout=10)  # opening the link completes onboarding at the sandbox
            worker.refresh_from_db()
            account = account_retrieve(worker.stripe_account_id)
            payout_account_status_set(stripe_account_id=worker.stripe_account_id,
                                      status=payout_account_status_from(account.to_dict()), reason="Demo onboarding")
        if not PayoutRun.objects.exists():
            # A weekly run over the history, the last one now: settled when each hold ended, paid
            # on its day, so the payout reports and the finance pages have weeks to show.
            now = timezone.now()
            for weeks_ago in range(PAYOUT_WEEKS - 1, -1, -1):
                day = now - dt.timedelta(weeks=weeks_ago)
                earnings_settle(now=day)
                run = payout_run_create(trigger="schedule" if weeks_ago else "command", at=day)
                payout_run_execute(run_id=run.pk, at=day)
        else:
            earnings_settle()

    def _shifts_now(self, *, ops: User, workers: list[Worker]) -> None:
        """A shift running now with `ana` and `ben` checked in (English, every topic), shifts in the
        next two days, and two customers waiting."""
        now = timezone.now().replace(second=0, microsecond=0)
        topics = list(Skill.objects.filter(active=True).values_list("code", flat=True))
        running = ShiftClaim.objects.filter(worker=workers[0], status=ClaimStatus.ACTIVE, starts_at__lte=now,
                                            ends_at__gt=now, checked_in_at__isnull=False).exists()
        if not running:
            published = now - dt.timedelta(minutes=35)
            shift = shift_create(actor=ops, starts_at=now - dt.timedelta(minutes=30),
                                 ends_at=now + dt.timedelta(hours=6), capacity=5, language="en", skills=topics,
                                 at=published)
            for worker in workers[:2]:
                shift_claim(worker_id=worker.pk, shift_id=shift.pk, at=published + dt.timedelta(minutes=1))
                shift_check_in(worker_id=worker.pk, shift_id=shift.pk, at=now - dt.timedelta(minutes=25))
        if not Shift.objects.filter(starts_at__gt=now).exists():
            for day in (1, 2):
                start = (now + dt.timedelta(days=day)).replace(hour=9, minute=0)
                shift_create(actor=ops, starts_at=start, ends_at=start + dt.timedelta(hours=4), capacity=8,
                             language="en", skills=["general", "payments"])
                shift_create(actor=ops, starts_at=start + dt.timedelta(hours=5), ends_at=start + dt.timedelta(hours=9),
                             capacity=3, language="fr", skills=["general", "payments"])
        if not Ticket.objects.filter(customer_email__in=["maria@example.com", "tom@example.com"]).exists():
            for name, email, text in [
                ("Maria Lopez", "maria@example.com", "Hi, my card payment failed twice this morning."),
                ("Tom Becker", "tom@example.com", "How do I change the email on my account?"),
            ]:
                ticket_create(name=name, email=email, language="en", topic="general", message=text)

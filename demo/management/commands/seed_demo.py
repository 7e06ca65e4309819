"""`python manage.py seed_demo`: demo accounts, shifts around now and a few tickets. Idempotent."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from workers.models import (
    ClaimStatus,
    Role,
    Shift,
    ShiftClaim,
    ShiftSeat,
    Skill,
    User,
    Worker,
    WorkerLanguage,
    WorkerStatus,
)
from workers.services.accounts import staff_role_apply

STAFF = [("ops", Role.OPS, "shiftline-ops"), ("finance", Role.FINANCE, "shiftline-finance"),
         ("admin", Role.ADMIN, "shiftline-admin")]
WORKERS = [
    ("ana", "Ana Ribeiro", "PT", "Europe/Lisbon", ["en", "pt"]),
    ("ben", "Ben Okafor", "NG", "Africa/Lagos", ["en"]),
    ("chloe", "Chloé Martin", "FR", "Europe/Paris", ["en", "fr"]),
]
WORKER_PASSWORD = "shiftline-worker"


class Command(BaseCommand):
    help = "Load demo accounts, shifts and tickets (safe to run again: nothing is duplicated)."

    @transaction.atomic
    def handle(self, *args, **options):
        for username, role, password in STAFF:
            user, created = User.objects.get_or_create(
                username=username, defaults={"role": role, "email": f"{username}@shiftline.test"})
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])
            staff_role_apply(user)  # the demo admin is the `admin` role, not a superuser
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

        now = timezone.now().replace(second=0, microsecond=0)
        if not Shift.objects.exists():
            ops = User.objects.get(username="ops")
            running = Shift.objects.create(starts_at=now - dt.timedelta(minutes=30),
                                           ends_at=now + dt.timedelta(hours=6),
                                           capacity=5, language="en", created_by=ops)
            for day in (1, 2):
                start = (now + dt.timedelta(days=day)).replace(hour=9, minute=0)
                Shift.objects.create(starts_at=start, ends_at=start + dt.timedelta(hours=4), capacity=8,
                                     language="en", created_by=ops)
                Shift.objects.create(starts_at=start + dt.timedelta(hours=5), ends_at=start + dt.timedelta(hours=9),
                                     capacity=3, language="fr", created_by=ops)
            for shift in Shift.objects.all():
                shift.skills.set([s for s in all_skills if s.code in ("general", "payments")])
            seats = list(ShiftSeat.objects.filter(shift=running).order_by("pk")[:2])
            for worker, seat in zip(workers[:2], seats, strict=True):
                seat.claim = ShiftClaim.objects.create(
                    shift=running, worker=worker, status=ClaimStatus.ACTIVE, rate_multiplier=running.rate_multiplier,
                    starts_at=running.starts_at, ends_at=running.ends_at, checked_in_at=now - dt.timedelta(minutes=25),
                    seat=seat)
                seat.save(update_fields=["claim"])
        self._seed_tickets()
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _seed_tickets(self) -> None:
        from tickets.models import Message, MessageSender, Ticket, TicketStatus

        if Ticket.objects.exists():
            return
        general = Skill.objects.get(code="general")
        for name, email, text in [
            ("Maria Lopez", "maria@example.com", "Hi, my card payment failed twice this morning."),
            ("Tom Becker", "tom@example.com", "How do I change the email on my account?"),
        ]:
            token = secrets.token_urlsafe(32)
            ticket = Ticket.objects.create(
                token_hash=hashlib.sha256(token.encode()).hexdigest(), customer_name=name, customer_email=email,
                language="en", topic=general, status=TicketStatus.QUEUED, queued_at=timezone.now(), last_seq=1)
            Message.objects.create(ticket=ticket, seq=1, sender=MessageSender.CUSTOMER, body=text)

"""factory_boy factories for the tickets app, and helpers that put workers on shift."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from decimal import Decimal

import factory
from django.utils import timezone

from tests.factories.workers import ShiftClaimFactory, ShiftFactory, WorkerFactory
from tickets.models import CannedResponse, Message, MessageSender, Ticket, TicketStatus
from workers.models import AgentPresence, Skill


class TicketFactory(factory.django.DjangoModelFactory):
    """A queued English `general` ticket with its first customer message; `ticket.token` is the
    customer's token (only its hash is stored)."""

    class Meta:
        model = Ticket

    token = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    token_hash = factory.LazyAttribute(lambda t: hashlib.sha256(t.token.encode()).hexdigest())
    customer_name = "Ana Customer"
    customer_email = factory.Sequence(lambda n: f"customer{n}@example.com")
    language = "en"
    topic = factory.LazyFunction(lambda: Skill.objects.get(code="general"))
    status = TicketStatus.QUEUED
    queued_at = factory.LazyFunction(timezone.now)
    last_seq = 1

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        token = kwargs.pop("token", None)
        ticket = super()._create(model_class, *args, **kwargs)
        Message.objects.create(ticket=ticket, seq=1, sender=MessageSender.CUSTOMER, body="Hello, I need help.")
        ticket.token = token
        return ticket


class CannedResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CannedResponse

    title = factory.Sequence(lambda n: f"Greeting {n}")
    body = "Hello {customer_name}, this is {worker_name}. How can I help?"


def on_shift_worker(*, languages=("en",), skills=("general", "payments"), cap: int = 3, connected: bool = True,
                    rate_multiplier: str = "1.00", checked_in: bool = True, **worker_kwargs):
    """An approved worker checked into a shift running now, with their console connected."""
    worker = WorkerFactory(languages=list(languages), skills=list(skills), concurrency_cap=cap, **worker_kwargs)
    now = timezone.now()
    shift = ShiftFactory(starts_at=now - dt.timedelta(minutes=30), ends_at=now + dt.timedelta(hours=2),
                         language=languages[0], rate_multiplier=Decimal(rate_multiplier))
    claim = ShiftClaimFactory(shift=shift, worker=worker, checked_in_at=now - dt.timedelta(minutes=29)
                              if checked_in else None)
    if connected:
        AgentPresence.objects.update_or_create(worker=worker, defaults={"connections": 1, "connected_at": now,
                                                                         "last_seen_at": now})
    worker.claim = claim
    return worker

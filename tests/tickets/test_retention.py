"""The customer data retention purge: `purge_personal_data` (and its daily beat task) anonymises the
customer's name, email, identity and words on tickets closed more than CUSTOMER_DATA_RETENTION_DAYS
ago; it is safe to repeat, and every report answers exactly as before."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from kernel.audit.models import AuditEntry
from tests.factories.workers import StaffFactory
from tests.reports.data import at, build_report_data
from tickets.models import Message, MessageSender, Ticket
from tickets.privacy import PURGED_BODY, PURGED_NAME
from tickets.tasks import purge_personal_data

pytestmark = pytest.mark.django_db

REPORTS = [
    ("finance", "/api/v1/reports/operations/?from=2026-10-01&to=2026-12-31"),
    ("finance", "/api/v1/reports/operations/?from=2026-10-01&to=2026-12-31&format=csv"),
    ("finance", "/api/v1/reports/payouts/?from=2026-10-01&to=2026-12-31"),
    ("finance", "/api/v1/reports/payouts/breakdown/?from=2026-10-01&to=2026-12-31&by=shift"),
    ("finance", "/api/v1/reports/earnings/?from=2026-10-01&to=2026-12-31&format=csv"),
]


@pytest.fixture
def data(settings):
    """The report tests' tickets (closed from October to December 2026), each with the customer's
    words and a worker's reply, and a retention that ends on 2026-11-15."""
    data = build_report_data()
    for ticket in Ticket.objects.all():
        Ticket.objects.filter(pk=ticket.pk).update(customer_name="Ana Customer", customer_email="ana@example.com",
                                                   customer_key="cust-1", rating_comment="Great, thanks Ana!",
                                                   last_seq=2)
        Message.objects.create(ticket=ticket, seq=1, sender=MessageSender.CUSTOMER, body="My card 4242 was charged.")
        Message.objects.create(ticket=ticket, seq=2, sender=MessageSender.WORKER, body="Refunded, sorry!")
    settings.CUSTOMER_DATA_RETENTION_DAYS = (dt.datetime.now(dt.UTC) - at("11-15")).days
    return data


def due(data) -> set[int]:
    """Closed (resolved or abandoned, and still so) before 2026-11-15 minus less than a day."""
    return {data.tickets[name].pk for name in ("t0", "t1", "t2", "t3", "t5", "t6", "t9")}


def snapshot(client_for) -> list:
    clients = {"finance": client_for(StaffFactory(role="finance")), "ops": client_for(StaffFactory(role="ops"))}
    out = []
    for role, path in REPORTS:
        response = clients[role].get(path)
        assert response.status_code == 200, (path, response.content[:300])
        body = b"".join(response.streaming_content) if response.streaming else response.content
        out.append(body)
    return out


def test_the_purge_anonymises_tickets_closed_before_the_retention_and_nothing_else(data):
    call_command("purge_personal_data")
    purged = set(Ticket.objects.filter(customer_data_purged_at__isnull=False).values_list("pk", flat=True))
    assert purged == due(data)
    for ticket in Ticket.objects.all():
        customer_words = set(ticket.messages.filter(sender=MessageSender.CUSTOMER).values_list("body", flat=True))
        worker_words = set(ticket.messages.filter(sender=MessageSender.WORKER).values_list("body", flat=True))
        if ticket.pk in purged:
            assert (ticket.customer_name, ticket.customer_email, ticket.customer_key, ticket.rating_comment) == (
                PURGED_NAME, "", "", "")
            assert customer_words == {PURGED_BODY}
        else:
            assert (ticket.customer_name, ticket.customer_email, ticket.customer_key) == (
                "Ana Customer", "ana@example.com", "cust-1")
            assert customer_words == {"My card 4242 was charged."}
        assert worker_words == {"Refunded, sorry!"}
    entry = AuditEntry.objects.get(action="personal_data.purge")
    assert (entry.actor_id, entry.ip, entry.after["tickets"]) == (None, None, len(due(data)))


def test_the_purge_is_idempotent(data, capsys):
    call_command("purge_personal_data")
    assert f"anonymised {len(due(data))} tickets" in capsys.readouterr().out
    first = list(Ticket.objects.order_by("pk").values())
    call_command("purge_personal_data")
    assert "anonymised 0 tickets" in capsys.readouterr().out
    assert list(Ticket.objects.order_by("pk").values()) == first
    assert AuditEntry.objects.filter(action="personal_data.purge").count() == 1


def test_report_figures_do_not_change(data, client_for):
    before = snapshot(client_for)
    call_command("purge_personal_data")
    assert Ticket.objects.filter(customer_data_purged_at__isnull=False).count() == len(due(data))
    assert snapshot(client_for) == before


def test_the_daily_beat_task_runs_the_same_purge(data):
    schedule = [entry for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
                if entry["task"] == "tickets.purge_personal_data"]
    assert [entry["schedule"] for entry in schedule] == [dt.timedelta(hours=24)]
    assert purge_personal_data.apply().get() == len(due(data))
    assert purge_personal_data.apply().get() == 0


def test_the_default_retention_is_a_year():
    assert django_settings.CUSTOMER_DATA_RETENTION_DAYS == 365

"""A worker's personal data (API.md, "Accounts and security"): `GET /api/v1/workers/me/export/`
gives everything Shiftline holds about them; `DELETE /api/v1/workers/me/` with their password
ends their claims, pseudonymises them, disables their login, and leaves the ledger and the
reports' figures as they were."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from kernel.audit.models import AuditEntry
from payouts.ledger import ledger_verify
from payouts.models import Earning, JournalLine
from tests.factories.tickets import TicketFactory
from tests.factories.workers import DEFAULT_PASSWORD, ShiftClaimFactory, ShiftFactory, StaffFactory, WorkerFactory
from tickets.models import Message, MessageSender, Ticket, TicketStatus
from workers.models import AssessmentAttempt, ClaimStatus, Shift, User, WorkerEvent, WorkerNotice
from workers.privacy import worker_pseudonym

pytestmark = pytest.mark.usefixtures("seed_data")


@pytest.fixture
def ana(earn):
    """A worker with a profile, claims (one ahead, one running and checked in, one done), a held
    ticket, a handled ticket in whose transcript she named herself, earnings, a notice and a quiz."""
    worker = WorkerFactory(full_name="Ana Duarte", user__username="ana_d", user__email="ana@example.com",
                           languages=["en", "pt"], skills=["payments"], payout_account_status="ready")
    now = timezone.now().replace(microsecond=0)
    worker.ahead = ShiftClaimFactory(worker=worker, shift=ShiftFactory(starts_at=now + dt.timedelta(days=2),
                                                                       ends_at=now + dt.timedelta(days=2, hours=3)))
    worker.running = ShiftClaimFactory(worker=worker, checked_in_at=now - dt.timedelta(minutes=20), shift=ShiftFactory(
        starts_at=now - dt.timedelta(minutes=30), ends_at=now + dt.timedelta(hours=2)))
    worker.done = ShiftClaimFactory(worker=worker, status=ClaimStatus.COMPLETED, shift=ShiftFactory(
        starts_at=now - dt.timedelta(days=3), ends_at=now - dt.timedelta(days=3) + dt.timedelta(hours=2)))
    worker.held = TicketFactory(status=TicketStatus.ASSIGNED, assigned_worker=worker, assigned_claim=worker.running,
                                assigned_at=now, customer_email="carla@example.com")
    worker.handled = earn(worker, cases=2)
    Message.objects.create(ticket=worker.handled[0], seq=2, sender=MessageSender.WORKER, author=worker.user,
                           body="Hi, I am Ana Duarte (ana_d), happy to help.")
    WorkerNotice.objects.create(worker=worker, kind="shift_cancelled", message="Your shift was cancelled.")
    AssessmentAttempt.objects.create(worker=worker, answers={"1": 0}, correct=1, total=1, score=100)
    return worker


def test_the_export_holds_everything_about_the_caller_and_nothing_of_others(ana, client_for):
    other = WorkerFactory(full_name="Ben Otto")
    TicketFactory(status=TicketStatus.ASSIGNED, assigned_worker=other)
    response = client_for(ana.user).get("/api/v1/workers/me/export/", REMOTE_ADDR="203.0.113.4")
    assert response.status_code == 200
    data = response.json()
    assert data["account"] | {"date_joined": None} == {
        "id": ana.pk, "username": "ana_d", "email": "ana@example.com", "role": "worker", "date_joined": None,
        "last_login": None}
    assert (data["profile"]["full_name"], data["profile"]["country"], data["profile"]["status"]) == (
        "Ana Duarte", "PT", "approved")
    assert data["payout_account"]["status"] == "ready"
    assert (data["languages"], data["skills"]) == (["en", "pt"], ["payments"])
    assert sorted(c["id"] for c in data["claims"]) == sorted([ana.ahead.pk, ana.running.pk, ana.done.pk])
    assert sorted(s["id"] for s in data["shifts"]) == sorted(
        [ana.ahead.shift_id, ana.running.shift_id, ana.done.shift_id])
    tickets = {t["id"]: t for t in data["tickets"]}
    assert set(tickets) == {ana.held.pk, *(t.pk for t in ana.handled)}
    assert [m["body"] for m in tickets[ana.handled[0].pk]["messages"]] == [
        "Hello, I need help.", "Hi, I am Ana Duarte (ana_d), happy to help."]
    assert "carla@example.com" not in response.content.decode()  # the customer's data is not Ana's
    assert sorted(e["amount"] for e in data["earnings"]) == [500, 500]
    assert data["payouts"] == []
    assert {b["account"]: b["balance"] for b in data["balances"]}["worker_available"] == 1000
    assert [n["message"] for n in data["notices"]] == ["Your shift was cancelled."]
    assert [a["score"] for a in data["assessment_attempts"]] == ["100.00"]
    assert "Ben Otto" not in response.content.decode()
    entry = AuditEntry.objects.get(action="worker.export")
    assert (entry.actor_id, entry.object_id, entry.ip) == (ana.pk, str(ana.pk), "203.0.113.4")


@pytest.mark.parametrize("who", ["anonymous", "ops"])
def test_only_a_worker_exports_and_deletes_themselves(who, ana, client_for):
    client = APIClient() if who == "anonymous" else client_for(StaffFactory(role="ops"))
    expected = 401 if who == "anonymous" else 403
    assert client.get("/api/v1/workers/me/export/").status_code == expected
    assert client.delete("/api/v1/workers/me/", {"password": DEFAULT_PASSWORD}, format="json").status_code == expected
    assert User.objects.get(pk=ana.pk).is_active


@pytest.mark.parametrize(("body", "status", "code"), [
    ({}, 400, "invalid"),
    ({"password": ""}, 400, "invalid"),
    ({"password": "not-my-password"}, 403, "password_incorrect"),
])
def test_deletion_without_the_right_password_changes_nothing(body, status, code, ana, client_for):
    client = client_for(ana.user)
    before = client.get("/api/v1/workers/me/export/").json()
    response = client.delete("/api/v1/workers/me/", body, format="json")
    assert response.status_code == status
    assert response.json()["code"] == code
    after = client.get("/api/v1/workers/me/export/").json()
    assert {k: v for k, v in after.items() if k != "exported_at"} == {
        k: v for k, v in before.items() if k != "exported_at"}
    assert not AuditEntry.objects.filter(action="worker.delete").exists()


def test_deletion_ends_claims_pseudonymises_and_disables_login(ana, client_for, api_client):
    client = client_for(ana.user)
    finance = client_for(StaffFactory(role="finance"))
    today = timezone.now().date()
    report_path = f"/api/v1/reports/payouts/?from={today - dt.timedelta(days=10)}&to={today}"
    report_before = finance.get(report_path).json()
    lines_before = list(JournalLine.objects.order_by("pk").values_list("pk", "account_id", "amount"))
    earnings_before = list(Earning.objects.order_by("pk").values_list("pk", "amount", "status"))

    response = client.delete("/api/v1/workers/me/", {"password": DEFAULT_PASSWORD}, format="json",
                             REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 204

    pseudonym = worker_pseudonym(ana.pk)
    ana.refresh_from_db()
    user = User.objects.get(pk=ana.pk)
    assert (user.username, user.email, user.first_name, user.is_active, user.has_usable_password()) == (
        pseudonym, "", "", False, False)
    assert ana.full_name == pseudonym
    # The claim ahead is released (its seat back on the board); the running one is checked out.
    statuses = dict(ana.claims.values_list("pk", "status"))
    assert statuses == {ana.ahead.pk: ClaimStatus.RELEASED, ana.running.pk: ClaimStatus.COMPLETED,
                        ana.done.pk: ClaimStatus.COMPLETED}
    assert Shift.objects.get(pk=ana.ahead.shift_id).seats_taken == 0
    # Her open ticket went back to the queue; her name in transcripts is the pseudonym now.
    assert Ticket.objects.get(pk=ana.held.pk).status == TicketStatus.QUEUED
    assert Message.objects.get(ticket=ana.handled[0], seq=2).body == (
        f"Hi, I am {pseudonym} ({pseudonym}), happy to help.")
    # Her token and password no longer work.
    assert client.get("/api/v1/workers/me/").status_code == 401
    token = api_client.post("/api/v1/auth/token/", {"username": "ana_d", "password": DEFAULT_PASSWORD}, format="json")
    assert token.status_code in (400, 401)
    # The money stays: the same ledger lines and earnings, the ledger balances, the report's figures hold.
    assert list(JournalLine.objects.order_by("pk").values_list("pk", "account_id", "amount")) == lines_before
    assert list(Earning.objects.order_by("pk").values_list("pk", "amount", "status")) == earnings_before
    assert ledger_verify().ok
    report_after = finance.get(report_path).json()
    strip = lambda report: [{k: v for k, v in row.items() if k != "worker_name"} for row in report["results"]]  # noqa: E731
    assert strip(report_after) == strip(report_before) != []
    assert {k: v for k, v in report_after.items() if k != "results"} == {
        k: v for k, v in report_before.items() if k != "results"}
    # Audited, with no personal data in the entry.
    entry = AuditEntry.objects.get(action="worker.delete")
    assert (entry.actor_id, entry.actor_username, entry.object_id, entry.ip) == (
        ana.pk, pseudonym, str(ana.pk), "203.0.113.9")
    assert entry.after == {"status": "approved", "is_active": False, "claims_ended": 2}
    assert WorkerEvent.objects.filter(worker=ana, kind="deleted").exists()
    assert "Ana Duarte" not in str(list(AuditEntry.objects.values_list("before", "after", "actor_username")))

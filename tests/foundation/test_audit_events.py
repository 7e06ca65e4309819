"""Each audited staff action writes one entry from its service, with the actor, the client's
address (as TRUSTED_PROXY_COUNT allows), the object, and its state before and after; a refused
action writes none; a task or command acting alone records no address."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from kernel.audit.models import AuditEntry
from payouts.rate_card import rate_card_update
from tests.factories.tickets import TicketFactory, on_shift_worker
from tests.factories.workers import ShiftFactory, StaffFactory, WorkerFactory, ensure_seed_data
from tickets.models import TicketStatus
from workers.models import Role, WorkerStatus

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"


@pytest.fixture(autouse=True)
def _seed(db):
    ensure_seed_data()


@pytest.fixture
def ops(db):
    return StaffFactory(role=Role.OPS)


def only_entry(action: str) -> AuditEntry:
    entries = list(AuditEntry.objects.filter(action=action))
    assert len(entries) == 1, entries
    return entries[0]


@pytest.mark.parametrize(("decision", "start", "end", "body"), [
    ("approve", WorkerStatus.APPLIED, WorkerStatus.APPROVED, {}),
    ("reject", WorkerStatus.APPLIED, WorkerStatus.REJECTED, {"reason": "No answers."}),
    ("suspend", WorkerStatus.APPROVED, WorkerStatus.SUSPENDED, {"reason": "Rude to customers."}),
])
def test_vetting_decisions_are_audited(decision, start, end, body, ops, client_for):
    worker = WorkerFactory(status=start)
    response = client_for(ops).post(f"/api/v1/workers/{worker.pk}/{decision}/", body, format="json",
                                    REMOTE_ADDR=ADDRESS)
    assert response.status_code == 200, response.json()
    entry = only_entry(f"worker.{decision}")
    assert (entry.actor_id, entry.actor_username, entry.ip) == (ops.pk, ops.username, ADDRESS)
    assert (entry.object_type, entry.object_id) == ("workers.worker", str(worker.pk))
    assert entry.before == {"status": start}
    assert entry.after["status"] == end


def test_a_refused_decision_writes_no_entry(ops, client_for):
    worker = WorkerFactory(status=WorkerStatus.REJECTED)
    response = client_for(ops).post(f"/api/v1/workers/{worker.pk}/approve/", REMOTE_ADDR=ADDRESS)
    assert response.status_code == 409
    assert not AuditEntry.objects.exists()


def test_the_address_is_the_trusted_proxys_view_not_a_forged_header(ops, client_for):
    client = client_for(ops)
    first, second = WorkerFactory(status=WorkerStatus.APPLIED), WorkerFactory(status=WorkerStatus.APPLIED)
    client.post(f"/api/v1/workers/{first.pk}/approve/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4")
    with override_settings(TRUSTED_PROXY_COUNT=1):
        client.post(f"/api/v1/workers/{second.pk}/approve/", REMOTE_ADDR="10.0.0.2",
                    HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9")
    ips = dict(AuditEntry.objects.filter(action="worker.approve").values_list("object_id", "ip"))
    assert ips == {str(first.pk): "10.0.0.2", str(second.pk): "198.51.100.9"}


def test_shift_create_and_cancel_are_audited(ops, client_for):
    client = client_for(ops)
    starts = timezone.now().replace(microsecond=0) + dt.timedelta(days=2)
    response = client.post("/api/v1/shifts/", {
        "starts_at": starts.isoformat(), "ends_at": (starts + dt.timedelta(hours=4)).isoformat(), "capacity": 3,
        "language": "en", "skills": ["payments"], "rate_multiplier": "1.25"}, format="json", REMOTE_ADDR=ADDRESS)
    assert response.status_code == 201, response.json()
    shift_id = response.json()["id"]
    created = only_entry("shift.create")
    assert (created.actor_id, created.ip, created.object_id, created.before) == (ops.pk, ADDRESS, str(shift_id), None)
    assert created.after | {"starts_at": None, "ends_at": None} == {
        "status": "published", "starts_at": None, "ends_at": None, "capacity": 3, "seats_taken": 0,
        "language": "en", "rate_multiplier": "1.25", "max_rate_multiplier": "1.25"}
    assert dt.datetime.fromisoformat(created.after["starts_at"]) == starts

    response = client.post(f"/api/v1/shifts/{shift_id}/cancel/", {"reason": "Low demand"}, format="json",
                           REMOTE_ADDR=ADDRESS)
    assert response.status_code == 200, response.json()
    cancelled = only_entry("shift.cancel")
    assert (cancelled.before["status"], cancelled.after["status"], cancelled.after["claims_cancelled"]) == (
        "published", "cancelled", 0)
    assert cancelled.ip == ADDRESS


def test_ticket_transfer_is_audited(ops, client_for):
    holder, other = on_shift_worker(), on_shift_worker()
    ticket = TicketFactory(status=TicketStatus.ASSIGNED, assigned_worker=holder, assigned_claim=holder.claim,
                           assigned_at=timezone.now())
    response = client_for(ops).post(f"/api/v1/tickets/{ticket.pk}/transfer/",
                                    {"to_worker": other.pk, "reason": "Needs Portuguese"}, format="json",
                                    REMOTE_ADDR=ADDRESS)
    assert response.status_code == 200, response.json()
    entry = only_entry("ticket.transfer")
    assert (entry.actor_id, entry.ip, entry.object_type, entry.object_id) == (
        ops.pk, ADDRESS, "tickets.ticket", str(ticket.pk))
    assert entry.before == {"status": "assigned", "assigned_worker": holder.pk}
    assert entry.after == {"status": "assigned", "assigned_worker": other.pk}


def test_rate_card_update_is_audited_with_the_amounts(client_for):
    finance = StaffFactory(role=Role.FINANCE)
    response = client_for(finance).put("/api/v1/payouts/rate-card/", {
        "currency": "eur", "base_per_case": 650, "csat_bonus": 100, "hold_hours": 72, "minimum_payout": 2000},
        format="json", REMOTE_ADDR=ADDRESS)
    assert response.status_code == 200, response.json()
    entry = only_entry("rate_card.update")
    assert (entry.actor_id, entry.ip) == (finance.pk, ADDRESS)
    assert entry.before["base_per_case"] == 500 and entry.after["base_per_case"] == 650
    assert entry.after["version"] == entry.before["version"] + 1


def test_payout_run_start_is_audited(client_for):
    finance = StaffFactory(role=Role.FINANCE)
    response = client_for(finance).post("/api/v1/payouts/runs/", REMOTE_ADDR=ADDRESS)
    assert response.status_code == 202, response.json()
    entry = only_entry("payout_run.start")
    assert (entry.actor_id, entry.ip, entry.object_type, entry.object_id) == (
        finance.pk, ADDRESS, "payouts.payoutrun", str(response.json()["id"]))
    assert entry.after == {"status": "queued", "trigger": "manual"}


def test_a_service_called_outside_a_request_records_no_address():
    finance = StaffFactory(role=Role.FINANCE)
    rate_card_update(actor=finance, currency="eur", base_per_case=700, csat_bonus=100, hold_hours=72,
                     minimum_payout=2000)
    entry = only_entry("rate_card.update")
    assert (entry.actor_id, entry.ip) == (finance.pk, None)


def test_the_entry_rolls_back_with_its_action(ops):
    from django.db import transaction

    from workers.services.vetting import worker_approve

    worker = WorkerFactory(status=WorkerStatus.APPLIED)
    with pytest.raises(RuntimeError), transaction.atomic():
        worker_approve(worker_id=worker.pk, actor=ops)
        raise RuntimeError("the caller's transaction fails after the approval")
    assert not AuditEntry.objects.exists()
    worker.refresh_from_db()
    assert worker.status == WorkerStatus.APPLIED


def test_the_address_of_one_request_does_not_leak_into_the_next(ops, client_for):
    client = client_for(ops)
    client.post(f"/api/v1/workers/{WorkerFactory(status=WorkerStatus.APPLIED).pk}/approve/", REMOTE_ADDR=ADDRESS)
    ShiftFactory()  # any later code outside a request
    rate_card_update(actor=ops, currency="eur", base_per_case=600, csat_bonus=100, hold_hours=72, minimum_payout=2000)
    assert only_entry("rate_card.update").ip is None


def test_a_socket_acts_from_its_client_address_in_its_database_threads(settings):
    """What a consumer runs through `database_sync_to_async` sees the socket's address (as
    TRUSTED_PROXY_COUNT allows); nothing is left set once the socket is done."""
    import asyncio

    from channels.db import database_sync_to_async

    from kernel.audit.context import AuditAddressAsgiMiddleware, current_client_address

    seen = []

    async def consumer(scope, receive, send):
        seen.append(await database_sync_to_async(current_client_address)())

    settings.TRUSTED_PROXY_COUNT = 1
    scope = {"type": "websocket", "client": ("10.0.0.2", 5000),
             "headers": [(b"x-forwarded-for", b"1.2.3.4, 198.51.100.23")]}
    asyncio.run(AuditAddressAsgiMiddleware(consumer)(scope, None, None))
    settings.TRUSTED_PROXY_COUNT = 0
    asyncio.run(AuditAddressAsgiMiddleware(consumer)(scope, None, None))
    assert seen == ["198.51.100.23", "10.0.0.2"]
    assert current_client_address() is None

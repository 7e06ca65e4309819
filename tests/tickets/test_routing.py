"""Routing rules: who may receive a ticket, in which order, and what happens when capacity changes."""

import datetime as dt

import pytest
from django.utils import timezone

from tickets import tasks
from tickets.models import Ticket, TicketEvent
from tickets.services import ticket_route
from workers.models import AgentPresence, WorkerEvent

pytestmark = pytest.mark.django_db


def test_ticket_goes_to_a_checked_in_connected_worker_with_language_and_topic(ticket_factory, on_shift):
    worker = on_shift(languages=["de"], skills=["refunds"])
    ticket = ticket_factory(language="de", topic_id="refunds")

    assert ticket_route() == [ticket.id]

    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_worker_id, ticket.assigned_claim_id) == ("assigned", worker.pk,
                                                                                     worker.claim.pk)
    assert list(TicketEvent.objects.filter(ticket=ticket).values_list("kind", "worker_id")) == [
        ("assigned", worker.pk)]
    assert AgentPresence.objects.get(worker=worker).last_assigned_at == ticket.assigned_at


@pytest.mark.parametrize("setup", ["not_checked_in", "not_connected", "wrong_language", "wrong_topic",
                                   "at_cap", "suspended", "shift_over", "checked_out"])
def test_ticket_waits_when_nobody_fits(ticket_factory, on_shift, setup):
    kwargs = {"not_checked_in": {"checked_in": False}, "not_connected": {"connected": False},
              "wrong_language": {"languages": ["fr"]}, "wrong_topic": {"skills": ["orders"]},
              "at_cap": {"cap": 1}, "suspended": {"status": "suspended"}}.get(setup, {})
    worker = on_shift(**kwargs)
    if setup == "at_cap":
        ticket_factory(status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
    if setup == "shift_over":
        type(worker.claim).objects.filter(pk=worker.claim.pk).update(ends_at=timezone.now())
    if setup == "checked_out":
        type(worker.claim).objects.filter(pk=worker.claim.pk).update(checked_out_at=timezone.now())
    ticket = ticket_factory()

    assert ticket_route() == []

    ticket.refresh_from_db()
    assert ticket.status == "queued"
    assert ticket.assigned_worker_id is None
    assert not TicketEvent.objects.filter(ticket=ticket).exists()


def test_a_worker_inside_the_presence_grace_still_receives_tickets(ticket_factory, on_shift):
    worker = on_shift()
    AgentPresence.objects.filter(worker=worker).update(connections=0,
                                                       disconnected_at=timezone.now() - dt.timedelta(seconds=10))
    ticket = ticket_factory()

    assert ticket_route() == [ticket.id]


def test_least_loaded_then_longest_idle(ticket_factory, on_shift):
    now = timezone.now()
    busy, idle_long, idle_short = on_shift(), on_shift(), on_shift()
    ticket_factory(status="assigned", assigned_worker=busy, assigned_claim=busy.claim)
    AgentPresence.objects.filter(worker=busy).update(last_assigned_at=now - dt.timedelta(hours=2))
    AgentPresence.objects.filter(worker=idle_long).update(last_assigned_at=now - dt.timedelta(minutes=30))
    AgentPresence.objects.filter(worker=idle_short).update(last_assigned_at=now - dt.timedelta(minutes=5))
    first, second, third = ticket_factory(), ticket_factory(), ticket_factory()

    ticket_route()

    holders = [Ticket.objects.get(pk=t.pk).assigned_worker_id for t in (first, second, third)]
    assert holders == [idle_long.pk, idle_short.pk, busy.pk]


def test_fifo_order_and_an_unroutable_head_does_not_block_the_rest(ticket_factory, on_shift):
    on_shift(cap=2)
    now = timezone.now()
    german = ticket_factory(language="de", queued_at=now - dt.timedelta(minutes=5))
    late = ticket_factory(queued_at=now - dt.timedelta(minutes=1))
    early = ticket_factory(queued_at=now - dt.timedelta(minutes=3))
    latest = ticket_factory(queued_at=now)

    assigned = ticket_route()

    assert assigned == [early.pk, late.pk]
    assert Ticket.objects.get(pk=german.pk).status == "queued"
    assert Ticket.objects.get(pk=latest.pk).status == "queued"


def test_presence_loss_after_grace_puts_tickets_back_at_the_front(ticket_factory, on_shift):
    gone = on_shift(cap=1)
    held = ticket_factory(status="assigned", assigned_worker=gone, assigned_claim=gone.claim,
                          queued_at=timezone.now() - dt.timedelta(minutes=1))
    waiting = ticket_factory(queued_at=timezone.now() - dt.timedelta(minutes=10))
    AgentPresence.objects.filter(worker=gone).update(connections=0,
                                                     disconnected_at=timezone.now() - dt.timedelta(seconds=61))
    taker = on_shift(cap=1)

    assert tasks.presence_expire() == 1

    held.refresh_from_db()
    assert (held.status, held.assigned_worker_id, held.previous_worker_id) == ("assigned", taker.pk, gone.pk)
    assert Ticket.objects.get(pk=waiting.pk).status == "queued"
    assert list(TicketEvent.objects.filter(ticket=held).values_list("kind", "worker_id")) == [
        ("presence_lost", gone.pk), ("assigned", taker.pk)]


def test_presence_within_grace_keeps_tickets(ticket_factory, on_shift):
    worker = on_shift()
    held = ticket_factory(status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
    AgentPresence.objects.filter(worker=worker).update(connections=0,
                                                       disconnected_at=timezone.now() - dt.timedelta(seconds=5))

    assert tasks.presence_expire() == 0

    held.refresh_from_db()
    assert (held.status, held.assigned_worker_id) == ("assigned", worker.pk)


def test_check_out_hands_open_tickets_over(ticket_factory, on_shift, django_capture_on_commit_callbacks):
    from workers.services.claims import shift_check_out

    leaving, staying = on_shift(), on_shift()
    held = ticket_factory(status="assigned", assigned_worker=leaving, assigned_claim=leaving.claim)

    with django_capture_on_commit_callbacks(execute=True):
        shift_check_out(worker_id=leaving.pk, shift_id=leaving.claim.shift_id)

    held.refresh_from_db()
    assert (held.status, held.assigned_worker_id) == ("assigned", staying.pk)
    assert list(TicketEvent.objects.filter(ticket=held).values_list("kind", flat=True)) == ["handed_over",
                                                                                            "assigned"]


def test_check_in_runs_routing(ticket_factory, on_shift, django_capture_on_commit_callbacks):
    from workers.services.claims import shift_check_in

    worker = on_shift(checked_in=False)
    ticket = ticket_factory()

    with django_capture_on_commit_callbacks(execute=True):
        shift_check_in(worker_id=worker.pk, shift_id=worker.claim.shift_id)

    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_worker_id) == ("assigned", worker.pk)


def test_suspension_requeues_the_workers_tickets(ticket_factory, on_shift, ops_user,
                                                 django_capture_on_commit_callbacks):
    from workers.services.vetting import worker_suspend

    worker = on_shift()
    held = ticket_factory(status="assigned", assigned_worker=worker, assigned_claim=worker.claim)

    with django_capture_on_commit_callbacks(execute=True):
        worker_suspend(worker_id=worker.pk, actor=ops_user, reason="Abusive to customers")

    held.refresh_from_db()
    assert (held.status, held.assigned_worker_id, held.queue_priority) == ("queued", None, -1)


def test_unanswered_assignment_goes_back_to_the_queue_and_counts_as_missed(ticket_factory, on_shift):
    slow, other = on_shift(), on_shift()
    ticket = ticket_factory(status="assigned", assigned_worker=slow, assigned_claim=slow.claim,
                            assigned_at=timezone.now() - dt.timedelta(minutes=3))
    AgentPresence.objects.filter(worker=other).update(last_assigned_at=timezone.now())

    assert tasks.first_response_timeout() == 1

    ticket.refresh_from_db()
    assert (ticket.status, ticket.assigned_worker_id) == ("assigned", other.pk)
    event = WorkerEvent.objects.get(worker=slow, kind="missed_assignment")
    assert event.data["ticket_id"] == ticket.pk
    slow.refresh_from_db()
    assert slow.reliability_score < 100
    assert tasks.first_response_timeout() == 0


def test_answered_assignment_is_kept(ticket_factory, on_shift, client_for):
    worker = on_shift()
    ticket = ticket_factory(status="assigned", assigned_worker=worker, assigned_claim=worker.claim,
                            assigned_at=timezone.now() - dt.timedelta(minutes=3))
    client_for(worker.user).post(f"/api/v1/tickets/{ticket.pk}/messages/", {"body": "Hi", "client_id": "a"},
                                 format="json")
    type(ticket).objects.filter(pk=ticket.pk).update(assigned_at=timezone.now() - dt.timedelta(minutes=3))
    from tickets.models import Message

    Message.objects.filter(ticket=ticket, seq=2).update(sent_at=timezone.now() - dt.timedelta(minutes=2))

    assert tasks.first_response_timeout() == 0
    assert not WorkerEvent.objects.filter(kind="missed_assignment").exists()


def test_stale_queued_tickets_are_abandoned(ticket_factory):
    stale = ticket_factory(customer_last_seen_at=timezone.now() - dt.timedelta(hours=25))
    fresh = ticket_factory(customer_last_seen_at=timezone.now())

    assert tasks.abandon_stale() == 1

    assert Ticket.objects.get(pk=stale.pk).status == "abandoned"
    assert Ticket.objects.get(pk=fresh.pk).status == "queued"


def test_resolving_frees_a_slot_for_the_next_ticket(ticket_factory, on_shift, client_for):
    worker = on_shift(cap=1)
    held = ticket_factory(status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
    waiting = ticket_factory()

    client_for(worker.user).post(f"/api/v1/tickets/{held.pk}/resolve/", {"resolution": "ok"}, format="json")

    assert Ticket.objects.get(pk=waiting.pk).assigned_worker_id == worker.pk

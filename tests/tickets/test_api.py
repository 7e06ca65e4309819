"""HTTP contract of tickets and live chat (API.md, "Tickets and live chat")."""

import datetime as dt
import hashlib

import pytest
from django.test import override_settings
from django.utils import timezone

from kernel.outbox.models import OutboxEvent
from tickets.models import Message, Ticket, TicketEvent

pytestmark = pytest.mark.django_db


def test_create_ticket_queues_it_and_stores_the_first_message(api_client):
    response = api_client.post("/api/v1/tickets/", {
        "name": "Ana", "email": "ana@example.com", "language": "en", "topic": "payments",
        "message": "My card was charged twice."}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "queued"
    assert body["queue_position"] == 1
    assert body["ws_url"] == f"ws://testserver/ws/tickets/{body['id']}/?token={body['token']}"
    ticket = Ticket.objects.get(pk=body["id"])
    assert ticket.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert ticket.last_seq == 1
    assert list(ticket.messages.values_list("seq", "sender", "body")) == [(1, "customer", "My card was charged twice.")]
    assert list(TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True)) == ["created"]


def test_create_ticket_is_assigned_at_once_when_a_worker_fits(open_ticket, on_shift):
    worker = on_shift()

    body = open_ticket()

    assert body["status"] == "assigned"
    assert body["queue_position"] == 0
    ticket = Ticket.objects.get(pk=body["id"])
    assert ticket.assigned_worker_id == worker.pk
    assert ticket.assigned_claim_id == worker.claim.pk


def test_queue_positions_follow_creation_order(open_ticket):
    positions = [open_ticket(email=f"c{i}@example.com")["queue_position"] for i in range(3)]

    assert positions == [1, 2, 3]


@pytest.mark.parametrize("field,value", [("language", "xx"), ("language", "eng"), ("topic", "astrology"),
                                         ("email", "not-an-email"), ("message", ""), ("message", "x" * 4001)])
def test_create_ticket_refuses_bad_input(api_client, field, value):
    body = {"name": "Ana", "email": "ana@example.com", "language": "en", "topic": "general", "message": "Hi"}
    body[field] = value

    response = api_client.post("/api/v1/tickets/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert Ticket.objects.count() == 0


@override_settings(RATELIMIT_ENABLE=True)
def test_create_ticket_is_rate_limited_per_ip(api_client):
    body = {"name": "Ana", "email": "ana@example.com", "language": "en", "topic": "general", "message": "Hi"}
    statuses = [api_client.post("/api/v1/tickets/", body, format="json").status_code for _ in range(21)]

    assert statuses == [201] * 20 + [429]
    assert Ticket.objects.count() == 20


def test_ticket_json_has_the_contract_fields(ticket_factory, customer_client):
    ticket = ticket_factory()

    body = customer_client(ticket.token).get(f"/api/v1/tickets/{ticket.id}/").json()

    assert {k: body[k] for k in ("id", "status", "language", "topic", "assigned_worker", "first_response_at",
                                  "resolved_at", "rating")} == {
        "id": ticket.id, "status": "queued", "language": "en", "topic": "general", "assigned_worker": None,
        "first_response_at": None, "resolved_at": None, "rating": None}
    assert body["created_at"] == ticket.created_at.isoformat()


def test_customer_token_opens_its_own_ticket_only(ticket_factory, customer_client, api_client):
    mine, other = ticket_factory(), ticket_factory()
    client = customer_client(mine.token)

    assert client.get(f"/api/v1/tickets/{mine.id}/").status_code == 200
    assert client.get(f"/api/v1/tickets/{other.id}/").status_code == 404
    assert client.get(f"/api/v1/tickets/{other.id}/messages/").status_code == 404
    response = client.post(f"/api/v1/tickets/{other.id}/messages/", {"body": "hi", "client_id": "c1"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Message.objects.filter(ticket=other).count() == 1
    assert api_client.get(f"/api/v1/tickets/{mine.id}/").status_code == 401


def test_workers_see_tickets_assigned_to_them_now_or_before(open_ticket, on_shift, client_for, ops_client):
    first = on_shift()
    held = open_ticket()
    assert held["status"] == "assigned"
    second = on_shift()
    ops_client.post(f"/api/v1/tickets/{held['id']}/transfer/", {"to_worker": second.pk, "reason": "Lang"},
                    format="json")
    stranger = on_shift()

    ids_first = [t["id"] for t in client_for(first.user).get("/api/v1/tickets/").json()["results"]]
    ids_second = [t["id"] for t in client_for(second.user).get("/api/v1/tickets/").json()["results"]]

    assert ids_first == [held["id"]]
    assert ids_second == [held["id"]]
    assert client_for(stranger.user).get("/api/v1/tickets/").json()["results"] == []
    assert client_for(stranger.user).get(f"/api/v1/tickets/{held['id']}/").status_code == 404
    assert ops_client.get("/api/v1/tickets/").json()["count"] == 1


def test_list_status_filter_is_validated(ops_client, ticket_factory):
    ticket_factory()

    assert ops_client.get("/api/v1/tickets/?status=queued").json()["count"] == 1
    assert ops_client.get("/api/v1/tickets/?status=resolved").json()["count"] == 0
    response = ops_client.get("/api/v1/tickets/?status=bogus")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_messages_get_seq_after_and_hides_internal_notes_from_the_customer(
        open_ticket, on_shift, client_for, customer_client):
    worker = on_shift()
    ticket = open_ticket()
    staff = client_for(worker.user)
    staff.post(f"/api/v1/tickets/{ticket['id']}/messages/", {"body": "Hi Ana", "client_id": "w1"}, format="json")
    staff.post(f"/api/v1/tickets/{ticket['id']}/messages/",
               {"body": "VIP customer", "client_id": "w2", "internal": True}, format="json")
    customer = customer_client(ticket["token"])
    customer.post(f"/api/v1/tickets/{ticket['id']}/messages/", {"body": "Thanks", "client_id": "c2"}, format="json")

    as_customer = customer.get(f"/api/v1/tickets/{ticket['id']}/messages/?after=1").json()["results"]
    as_worker = staff.get(f"/api/v1/tickets/{ticket['id']}/messages/?after=1").json()["results"]

    assert [(m["seq"], m["sender"], m["body"]) for m in as_customer] == [
        (2, "worker", "Hi Ana"), (4, "customer", "Thanks")]
    assert [(m["seq"], m["internal"]) for m in as_worker] == [(2, False), (3, True), (4, False)]
    assert customer.get(f"/api/v1/tickets/{ticket['id']}/messages/?after=-1").status_code == 400
    assert customer.get(f"/api/v1/tickets/{ticket['id']}/messages/?after=abc").json()["code"] == "invalid"


def test_repeated_client_id_returns_the_stored_message_and_stores_nothing(ticket_factory, customer_client):
    ticket = ticket_factory()
    client = customer_client(ticket.token)

    first = client.post(f"/api/v1/tickets/{ticket.id}/messages/", {"body": "once", "client_id": "abc"}, format="json")
    again = client.post(f"/api/v1/tickets/{ticket.id}/messages/", {"body": "twice", "client_id": "abc"}, format="json")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["seq"] == 2
    assert list(ticket.messages.values_list("seq", "body")) == [(1, "Hello, I need help."), (2, "once")]
    ticket.refresh_from_db()
    assert ticket.last_seq == 2


@pytest.mark.parametrize("body", ["", "   ", "x" * 4001])
def test_message_body_must_be_1_to_4000_chars(ticket_factory, customer_client, body):
    ticket = ticket_factory()

    response = customer_client(ticket.token).post(f"/api/v1/tickets/{ticket.id}/messages/",
                                                  {"body": body, "client_id": "c"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "body" in response.json()["fields"]
    assert ticket.messages.count() == 1


def test_message_of_exactly_4000_chars_is_stored(ticket_factory, customer_client):
    ticket = ticket_factory()

    response = customer_client(ticket.token).post(f"/api/v1/tickets/{ticket.id}/messages/",
                                                  {"body": "y" * 4000, "client_id": "c"}, format="json")

    assert response.status_code == 201
    assert len(response.json()["body"]) == 4000


def test_customer_cannot_write_internal_notes(ticket_factory, customer_client):
    ticket = ticket_factory()

    response = customer_client(ticket.token).post(f"/api/v1/tickets/{ticket.id}/messages/",
                                                  {"body": "psst", "client_id": "c", "internal": True}, format="json")

    assert response.status_code == 400
    assert ticket.messages.count() == 1


def test_first_worker_reply_sets_first_response_at(open_ticket, on_shift, client_for):
    worker = on_shift()
    ticket = open_ticket()

    client_for(worker.user).post(f"/api/v1/tickets/{ticket['id']}/messages/",
                                 {"body": "note", "client_id": "n", "internal": True}, format="json")
    assert Ticket.objects.get(pk=ticket["id"]).first_response_at is None
    reply = client_for(worker.user).post(f"/api/v1/tickets/{ticket['id']}/messages/",
                                         {"body": "Hello!", "client_id": "r"}, format="json")

    assert Ticket.objects.get(pk=ticket["id"]).first_response_at.isoformat() == reply.json()["sent_at"]


def test_resolve_records_case_pay_event(open_ticket, on_shift, client_for):
    worker = on_shift(rate_multiplier="1.25")
    ticket = open_ticket()

    response = client_for(worker.user).post(f"/api/v1/tickets/{ticket['id']}/resolve/",
                                            {"resolution": "Refund issued", "category": "refund"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    stored = Ticket.objects.get(pk=ticket["id"])
    event = OutboxEvent.objects.get(topic="ticket.resolved")
    assert event.payload == {"ticket_id": stored.id, "worker_id": worker.pk, "claim_id": worker.claim.pk,
                             "rate_multiplier": "1.25", "resolution_n": 1,
                             "resolved_at": stored.resolved_at.isoformat()}
    assert response.json()["resolved_at"] == stored.resolved_at.isoformat()
    assert stored.resolution_category == "refund"
    assert TicketEvent.objects.filter(ticket=stored, kind="resolved", worker=worker).count() == 1


def test_resolve_refused_for_others_and_for_queued_tickets(open_ticket, on_shift, client_for, ops_client,
                                                           customer_client):
    queued = open_ticket()
    assert ops_client.post(f"/api/v1/tickets/{queued['id']}/resolve/", {"resolution": "x"},
                           format="json").json()["code"] == "invalid_transition"
    worker = on_shift()
    other = on_shift(skills=["refunds"])
    held = open_ticket(email="b@example.com")
    assert Ticket.objects.get(pk=queued["id"]).assigned_worker_id == worker.pk

    assert client_for(other.user).post(f"/api/v1/tickets/{held['id']}/resolve/", {"resolution": "x"},
                                       format="json").status_code == 404
    assert customer_client(held["token"]).post(f"/api/v1/tickets/{held['id']}/resolve/", {"resolution": "x"},
                                               format="json").status_code == 401
    assert Ticket.objects.filter(status="resolved").count() == 0
    assert OutboxEvent.objects.filter(topic="ticket.resolved").count() == 0


def test_rating_once_after_resolve(open_ticket, on_shift, client_for, customer_client):
    worker = on_shift()
    ticket = open_ticket()
    customer = customer_client(ticket["token"])
    early = customer.post(f"/api/v1/tickets/{ticket['id']}/rating/", {"score": 5, "comment": "x"}, format="json")
    assert early.status_code == 409
    client_for(worker.user).post(f"/api/v1/tickets/{ticket['id']}/resolve/", {"resolution": "Done"}, format="json")

    rated = customer.post(f"/api/v1/tickets/{ticket['id']}/rating/", {"score": 5, "comment": "Great"}, format="json")
    again = customer.post(f"/api/v1/tickets/{ticket['id']}/rating/", {"score": 1, "comment": "Bad"}, format="json")

    assert rated.status_code == 201
    assert rated.json()["rating"] == 5
    assert again.status_code == 409
    assert again.json()["code"] == "already_rated"
    stored = Ticket.objects.get(pk=ticket["id"])
    assert stored.rating == 5
    assert OutboxEvent.objects.get(topic="ticket.rated").payload == {
        "ticket_id": ticket["id"], "worker_id": worker.pk, "score": 5, "resolution_n": 1,
        "rated_at": stored.rated_at.isoformat()}  # the CSAT bonus is earned when the customer rated
    worker.refresh_from_db()
    assert str(worker.quality_score) == "100.00"
    bad = customer.post(f"/api/v1/tickets/{ticket['id']}/rating/", {"score": 6}, format="json")
    assert bad.status_code == 400


def test_reopen_within_72_hours_prefers_the_previous_worker(open_ticket, on_shift, client_for, customer_client):
    worker = on_shift()
    ticket = open_ticket()
    client_for(worker.user).post(f"/api/v1/tickets/{ticket['id']}/resolve/", {"resolution": "Done"}, format="json")
    on_shift()  # an idle worker who would win "least loaded" on a tie

    response = customer_client(ticket["token"]).post(f"/api/v1/tickets/{ticket['id']}/reopen/")

    assert response.status_code == 200
    assert response.json()["status"] == "assigned"
    assert response.json()["assigned_worker"] == worker.pk
    reopened = OutboxEvent.objects.get(topic="ticket.reopened").payload
    assert reopened["ticket_id"] == ticket["id"]
    assert reopened["worker_id"] == worker.pk
    assert reopened["resolution_n"] == 1


def test_reopen_after_72_hours_is_refused(ticket_factory, on_shift, customer_client):
    worker = on_shift()
    ticket = ticket_factory(status="resolved", assigned_worker=worker, resolved_by=worker, resolution_count=1,
                            resolved_at=timezone.now() - dt.timedelta(hours=72, minutes=1))

    response = customer_client(ticket.token).post(f"/api/v1/tickets/{ticket.id}/reopen/")

    assert response.status_code == 409
    assert response.json()["code"] == "reopen_window_closed"
    ticket.refresh_from_db()
    assert ticket.status == "resolved"
    assert OutboxEvent.objects.filter(topic="ticket.reopened").count() == 0


def test_transfer_to_null_puts_the_ticket_back_at_the_front_of_the_queue(open_ticket, on_shift, client_for):
    worker = on_shift(cap=1)
    held = open_ticket()
    waiting = open_ticket(email="w@example.com")
    assert waiting["queue_position"] == 1

    response = client_for(worker.user).post(f"/api/v1/tickets/{held['id']}/transfer/",
                                            {"to_worker": None, "reason": "Needs billing"}, format="json")

    assert response.status_code == 200
    # The worker's slot is free again and only they are on shift, so the next ticket (the one that
    # waited longest) reaches them; the transferred one waits at the front.
    assert Ticket.objects.get(pk=waiting["id"]).assigned_worker_id in (worker.pk, None)
    kinds = list(TicketEvent.objects.filter(ticket_id=held["id"]).values_list("kind", flat=True))
    assert kinds[:3] == ["created", "assigned", "transferred"]


def test_transfer_to_an_unavailable_worker_is_a_conflict(open_ticket, on_shift, client_for):
    worker = on_shift()
    offline = on_shift(connected=False)
    held = open_ticket()

    response = client_for(worker.user).post(f"/api/v1/tickets/{held['id']}/transfer/",
                                            {"to_worker": offline.pk, "reason": "x"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "worker_unavailable"
    assert Ticket.objects.get(pk=held["id"]).assigned_worker_id == worker.pk
    bad = client_for(worker.user).post(f"/api/v1/tickets/{held['id']}/transfer/",
                                       {"to_worker": 999999, "reason": "x"}, format="json")
    assert bad.status_code == 400


def test_a_previously_assigned_worker_can_read_but_not_write(open_ticket, on_shift, client_for, ops_client):
    first = on_shift()
    ticket = open_ticket()
    second = on_shift()
    ops_client.post(f"/api/v1/tickets/{ticket['id']}/transfer/", {"to_worker": second.pk, "reason": "Shift change"},
                    format="json")
    former = client_for(first.user)

    assert former.get(f"/api/v1/tickets/{ticket['id']}/").status_code == 200
    assert former.get(f"/api/v1/tickets/{ticket['id']}/messages/").json()["count"] == 1
    response = former.post(f"/api/v1/tickets/{ticket['id']}/messages/", {"body": "hi", "client_id": "x"},
                           format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "not_assigned"
    assert Ticket.objects.get(pk=ticket["id"]).last_seq == 1
    assert former.post(f"/api/v1/tickets/{ticket['id']}/resolve/", {"resolution": "x"},
                       format="json").json()["code"] == "not_assigned"


def test_customer_cannot_write_to_a_resolved_ticket_but_a_retry_gets_its_ack(
        open_ticket, on_shift, client_for, customer_client):
    worker = on_shift()
    ticket = open_ticket()
    customer = customer_client(ticket["token"])
    sent = customer.post(f"/api/v1/tickets/{ticket['id']}/messages/", {"body": "one", "client_id": "k1"},
                         format="json").json()
    client_for(worker.user).post(f"/api/v1/tickets/{ticket['id']}/resolve/", {"resolution": "Done"}, format="json")

    late = customer.post(f"/api/v1/tickets/{ticket['id']}/messages/", {"body": "two", "client_id": "k2"},
                         format="json")
    retry = customer.post(f"/api/v1/tickets/{ticket['id']}/messages/", {"body": "one", "client_id": "k1"},
                          format="json")

    assert late.status_code == 409
    assert late.json()["code"] == "ticket_closed"
    assert (retry.status_code, retry.json()) == (200, sent)
    assert Ticket.objects.get(pk=ticket["id"]).last_seq == 2


def test_finance_sees_no_tickets_and_staff_cannot_rate(ticket_factory, finance_client, ops_client):
    ticket = ticket_factory()

    assert finance_client.get("/api/v1/tickets/").json()["count"] == 0
    assert finance_client.get(f"/api/v1/tickets/{ticket.id}/").status_code == 404
    response = ops_client.post(f"/api/v1/tickets/{ticket.id}/rating/", {"score": 5}, format="json")
    assert response.status_code == 403
    assert Ticket.objects.get(pk=ticket.id).rating is None


def test_list_endpoints_do_not_grow_queries_with_rows(ticket_factory, ops_client, django_assert_max_num_queries):
    for _ in range(15):
        ticket_factory()

    with django_assert_max_num_queries(6):
        response = ops_client.get("/api/v1/tickets/")

    assert response.json()["count"] == 15

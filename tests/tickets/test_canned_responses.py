"""Canned responses: ops manage them on their page; placeholders are checked at save and filled
for the worker and ticket by one function, which the console's API answers with."""

from __future__ import annotations

import pytest
from django.test import Client

from kernel.errors import InvalidInput
from tests.factories.tickets import TicketFactory
from tests.factories.workers import StaffFactory, WorkerFactory
from tickets.canned_responses import canned_render, canned_response_create
from tickets.models import CannedResponse


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_render_fills_worker_and_customer_names(db):
    worker = WorkerFactory(full_name="Chloé Martin")
    ticket = TicketFactory(customer_name="Maria Lopez")

    text = canned_render("Hi {customer_first_name}, I'm {worker_first_name} ({worker_name}) on #{ticket_id}. {{ok}}",
                         worker=worker, ticket=ticket)

    assert text == f"Hi Maria, I'm Chloé (Chloé Martin) on #{ticket.pk}. {{ok}}"


@pytest.mark.parametrize(("body", "error"), [
    ("Hi {first_name}", "Unknown placeholder {first_name}. Use one of {worker_first_name}, {worker_name}, "
                        "{customer_name}, {customer_first_name}, {ticket_id}."),
    ("Hi {customer_name", "A brace is not closed: write placeholders as {customer_name}; for a literal brace "
                          "write {{ or }}."),
    ("Hi {customer_name!r}", "Write the placeholder as {customer_name}, without a format or conversion."),
    ("Hi {}", "Unknown placeholder {}. Use one of {worker_first_name}, {worker_name}, {customer_name}, "
              "{customer_first_name}, {ticket_id}."),
])
def test_unknown_or_malformed_placeholders_are_refused_at_save(db, body, error):
    with pytest.raises(InvalidInput) as refused:
        canned_response_create(title="Greeting", body=body)

    assert refused.value.fields == {"body": [error]}
    assert not CannedResponse.objects.exists()


def test_ops_create_edit_and_delete_on_their_page(db):
    client = _login(StaffFactory(role="ops"))

    created = client.post("/ops/canned-responses/", {"title": "Greeting", "active": "on",
                                                     "body": "Hi {customer_first_name}, I'm {worker_first_name}."})
    bad = client.post("/ops/canned-responses/", {"title": "Oops", "body": "Hi {name}", "active": "on"})
    response = CannedResponse.objects.get()
    edited = client.post(f"/ops/canned-responses/{response.pk}/edit/",
                         {"title": "Hello", "body": "Hello {customer_name}!", "language": "EN"})
    response.refresh_from_db()
    page = client.get("/ops/canned-responses/").content.decode()
    deleted = client.post(f"/ops/canned-responses/{response.pk}/delete/")

    assert created.status_code == 302 and edited.status_code == 302
    assert bad.status_code == 200 and "Unknown placeholder {name}." in bad.content.decode()
    assert 'aria-invalid="true"' in bad.content.decode()
    assert (response.title, response.body, response.language, response.active) == (
        "Hello", "Hello {customer_name}!", "en", False)
    assert "Hello {customer_name}!" in page and "hidden from the console" in page
    assert deleted.status_code == 302 and not CannedResponse.objects.exists()


def test_workers_and_other_roles_cannot_open_the_page(db):
    worker = WorkerFactory()
    assert _login(worker.user).get("/ops/canned-responses/").status_code == 403
    finance = _login(StaffFactory(role="finance"))
    assert finance.post("/ops/canned-responses/", {"title": "x", "body": "y"}).status_code == 403
    assert not CannedResponse.objects.exists()


def test_console_api_answers_each_response_rendered_for_the_worker_and_ticket(db):
    worker = WorkerFactory(full_name="Chloé Martin")
    ticket = TicketFactory(customer_name="Maria Lopez", assigned_worker=worker, status="assigned")
    other = TicketFactory(customer_name="Someone Else")
    canned_response_create(title="Greeting", body="Hi {customer_first_name}, I'm {worker_first_name}.")
    client = _login(worker.user)

    plain = client.get("/api/v1/tickets/canned-responses/").json()["results"]
    for_ticket = client.get(f"/api/v1/tickets/canned-responses/?ticket={ticket.pk}").json()["results"]
    foreign = client.get(f"/api/v1/tickets/canned-responses/?ticket={other.pk}")
    malformed = client.get("/api/v1/tickets/canned-responses/?ticket=abc")

    assert [r["rendered"] for r in plain] == ["Hi {customer_first_name}, I'm Chloé."]
    assert [(r["body"], r["rendered"]) for r in for_ticket] == [
        ("Hi {customer_first_name}, I'm {worker_first_name}.", "Hi Maria, I'm Chloé.")]
    assert foreign.status_code == 404 and foreign.json()["code"] == "not_found"
    assert malformed.status_code == 400 and malformed.json()["code"] == "invalid"

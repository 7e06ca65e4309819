"""The console's earlier tickets belong to the same *verified* customer: an id the embedding site
signed with WIDGET_IDENTITY_SECRET, never an email anyone can type."""

from __future__ import annotations

import pytest

from tests.factories.workers import StaffFactory
from tickets.identity import customer_signature
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

SECRET = "site-secret-for-tests-3b8f0c"


@pytest.fixture
def identity_secret(settings):
    settings.WIDGET_IDENTITY_SECRET = SECRET


@pytest.fixture
def history(client_for):
    ops = client_for(StaffFactory(role="ops"))

    def read(ticket_id: int) -> list[int]:
        response = ops.get(f"/api/v1/tickets/{ticket_id}/history/")
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    return read


def signed(customer_id: str, secret: str = SECRET) -> dict:
    return {"customer_id": customer_id, "customer_signature": customer_signature(customer_id, secret)}


def test_a_typed_email_shows_no_earlier_tickets(identity_secret, open_ticket, history):
    victim = open_ticket(email="victim@example.com", **signed("cust-1"))
    impostor = open_ticket(email="victim@example.com")  # types the victim's email, no identity
    assert history(impostor["id"]) == []
    assert Ticket.objects.get(pk=victim["id"]).customer_key == "cust-1"


def test_a_signed_identity_shows_the_same_customers_earlier_tickets(identity_secret, open_ticket, history):
    first = open_ticket(email="ana@example.com", **signed("cust-42"))
    second = open_ticket(email="ana.new@example.com", **signed("cust-42"))  # a new email, same customer
    other = open_ticket(email="ana@example.com", **signed("cust-43"))  # the same email, another customer
    third = open_ticket(**signed("cust-42"))
    assert history(third["id"]) == [second["id"], first["id"]]
    assert history(other["id"]) == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"customer_id": "cust-42", "customer_signature": customer_signature("cust-42", "a-guessed-secret")},
     "customer_signature"),
    ({"customer_id": "cust-43", "customer_signature": customer_signature("cust-42", SECRET)}, "customer_signature"),
    ({"customer_id": "cust-42"}, "customer_signature"),
    ({"customer_signature": customer_signature("cust-42", SECRET)}, "customer_id"),
])
def test_a_forged_or_partial_identity_is_refused(identity_secret, fields, field, api_client):
    body = {"name": "Eve", "email": "ana@example.com", "language": "en", "topic": "general",
            "message": "Show me Ana's tickets.", **fields}
    response = api_client.post("/api/v1/tickets/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert not Ticket.objects.exists()


def test_without_a_site_secret_no_identity_is_accepted(settings, api_client):
    settings.WIDGET_IDENTITY_SECRET = ""
    body = {"name": "Eve", "email": "ana@example.com", "language": "en", "topic": "general", "message": "Hi",
            "customer_id": "cust-42", "customer_signature": customer_signature("cust-42", "")}
    response = api_client.post("/api/v1/tickets/", body, format="json")
    assert response.status_code == 400
    assert "customer_signature" in response.json()["fields"]
    assert not Ticket.objects.exists()

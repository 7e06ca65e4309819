import pytest
from rest_framework.test import APIClient

from tests.factories.tickets import CannedResponseFactory, TicketFactory, on_shift_worker


@pytest.fixture(autouse=True)
def skill_catalogue(db):
    """The topic catalogue `migrate` seeds; a transactional test's flush empties it, so put it back."""
    from workers.models import Skill

    for code, name in [("general", "General questions"), ("payments", "Payments"), ("refunds", "Refunds"),
                       ("orders", "Orders"), ("account", "Account and sign-in"),
                       ("disputes", "Disputes and chargebacks")]:
        Skill.objects.get_or_create(code=code, defaults={"name": name})


@pytest.fixture
def ticket_factory(db):
    return TicketFactory


@pytest.fixture
def canned_response_factory(db):
    return CannedResponseFactory


@pytest.fixture
def on_shift(db):
    """`on_shift(languages=("en",), skills=("general",), cap=3, connected=True)` → a routable worker."""
    return on_shift_worker


@pytest.fixture
def customer_client():
    """`customer_client(token)`: an API client sending the customer's X-Ticket-Token."""

    def make(token: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_X_TICKET_TOKEN=token)
        return client

    return make


@pytest.fixture
def open_ticket(api_client):
    """`open_ticket(**overrides)`: POST /api/v1/tickets/ and return the 201 body."""

    def make(**overrides) -> dict:
        body = {"name": "Ana Customer", "email": "ana@example.com", "language": "en", "topic": "general",
                "message": "My payment failed twice."}
        body.update(overrides)
        response = api_client.post("/api/v1/tickets/", body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make

"""The chat pages render for the right people, and the widget may call the API from allowed sites."""

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_hosted_chat_page_loads_the_widget(client):
    response = client.get("/chat/")

    assert response.status_code == 200
    assert b'data-mode="inline"' in response.content
    assert b"js/widget.js" in response.content


def test_console_is_for_workers_and_the_live_board_for_ops(client, worker, ops_user):
    assert client.get("/console/").status_code == 302
    client.force_login(worker.user)
    assert client.get("/console/").status_code == 200
    assert client.get("/ops/live/").status_code == 403
    client.force_login(ops_user)
    assert client.get("/ops/live/").status_code == 200


def test_live_board_counts_the_queue_per_language_and_topic(ticket_factory, on_shift, ops_client, worker_client):
    on_shift(languages=["de"])
    ticket_factory(language="en")
    ticket_factory(language="en")
    ticket_factory(language="pt", topic_id="refunds")

    board = ops_client.get("/api/v1/tickets/live-board/").json()

    assert [(q["language"], q["topic"], q["queued"]) for q in board["queue"]] == [
        ("en", "general", 2), ("pt", "refunds", 1)]
    assert board["queue_length"] == 3
    assert [(w["load"], w["presence"]) for w in board["workers"]] == [(0, "online")]
    assert worker_client.get("/api/v1/tickets/live-board/").status_code == 403


@override_settings(WIDGET_ALLOWED_ORIGINS=["https://shop.example"])
def test_widget_sites_may_call_the_customer_endpoints(api_client):
    body = {"name": "Ana", "email": "ana@example.com", "language": "en", "topic": "general", "message": "Hi"}

    allowed = api_client.post("/api/v1/tickets/", body, format="json", HTTP_ORIGIN="https://shop.example")
    foreign = api_client.post("/api/v1/tickets/", body, format="json", HTTP_ORIGIN="https://evil.example")
    preflight = api_client.options("/api/v1/tickets/1/messages/", HTTP_ORIGIN="https://shop.example")

    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Access-Control-Allow-Origin" not in foreign
    assert "X-Ticket-Token" in preflight["Access-Control-Allow-Headers"]


def test_canned_responses_for_workers(canned_response_factory, worker_client, api_client):
    canned_response_factory(title="Hello")

    results = worker_client.get("/api/v1/tickets/canned-responses/").json()["results"]

    assert [r["title"] for r in results] == ["Hello"]
    assert api_client.get("/api/v1/tickets/canned-responses/").status_code == 401


def test_schema_still_builds(api_client):
    assert api_client.get("/api/v1/schema/").status_code == 200

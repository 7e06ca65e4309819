"""Stripe webhooks: verified signatures, each event once, any order. Events come from the
sandbox (what it would send), delivered either by us (signed) or by the sandbox itself."""

from __future__ import annotations

import httpx
import pytest
from rest_framework.authtoken.models import Token

from payouts import ledger, runs, selectors, stripe_gateway
from payouts.models import Payout, StripeEvent
from tests.factories.workers import WorkerFactory
from workers.models import Worker


def _events(type_: str) -> list[dict]:
    """The sandbox's events of a type, oldest first, as Stripe's /v1/events lists them."""
    events = stripe_gateway.stripe_client().v1.events.list(params={"type": type_, "limit": 100})
    return [event.to_dict() for event in reversed(list(events.auto_paging_iter()))]


def test_webhook_with_a_bad_signature_is_refused_and_changes_nothing(db, stripe_sandbox, signed_post):
    worker = WorkerFactory()
    account = stripe_gateway.account_create(worker_id=worker.pk, email="w@example.com", country="PT")
    Worker.objects.filter(pk=worker.pk).update(stripe_account_id=account.id, payout_account_status="pending")
    stripe_sandbox.account_status(account.id, "ready", sync=False)
    event = _events("account.updated")[-1]

    wrong_secret = signed_post(event, secret="whsec_not_ours")
    garbage = signed_post(event, signature="t=1,v1=deadbeef")
    no_header = signed_post(event, signature="")

    assert [r.status_code for r in (wrong_secret, garbage, no_header)] == [400, 400, 400]
    assert wrong_secret.json()["code"] == "invalid_signature"
    assert StripeEvent.objects.count() == 0
    assert Worker.objects.get(pk=worker.pk).payout_account_status == "pending"


def test_account_updated_sets_status_once_and_ignores_older_events(db, stripe_sandbox, signed_post,
                                                                   worker, worker_client):
    response = worker_client.post("/api/v1/workers/me/payout-account/")
    assert response.status_code == 200
    account_id = Worker.objects.get(pk=worker.pk).stripe_account_id
    stripe_sandbox.account_status(account_id, "ready", sync=False)
    ready = _events("account.updated")[-1]
    restricted = {**ready, "id": "evt_later_restricted", "created": ready["created"] + 10,
                  "data": {"object": {**ready["data"]["object"],
                                      "requirements": {"disabled_reason": "requirements.past_due"}}}}

    first = signed_post(ready)
    duplicate = signed_post(ready)

    assert (first.status_code, duplicate.status_code) == (200, 200)
    assert Worker.objects.get(pk=worker.pk).payout_account_status == "ready"
    assert StripeEvent.objects.filter(event_id=ready["id"]).count() == 1

    signed_post(restricted)
    older_ready_again = {**ready, "id": "evt_older_ready", "created": ready["created"] + 5}
    signed_post(older_ready_again)

    assert Worker.objects.get(pk=worker.pk).payout_account_status == "restricted"
    assert StripeEvent.objects.get(event_id="evt_older_ready").result == "stale"


def test_transfer_reversed_returns_money_to_available_once_whatever_the_order(
        db, payouts_inline, stripe_sandbox, signed_post, ready_worker_factory, earn):
    worker = ready_worker_factory()
    earn(worker, cases=5)
    run = runs.payout_run_create()
    runs.payout_run_execute(run_id=run.pk)
    payout = Payout.objects.get(worker=worker)
    stripe_gateway.stripe_client().v1.transfers.reversals.create(payout.stripe_transfer_id, params={"amount": 1000})
    stripe_gateway.stripe_client().v1.transfers.reversals.create(payout.stripe_transfer_id, params={"amount": 500})
    created = _events("transfer.created")[-1]
    first_reversal, second_reversal = _events("transfer.reversed")

    for event in (second_reversal, first_reversal, second_reversal, created, first_reversal):
        assert signed_post(event).status_code == 200

    payout.refresh_from_db()
    assert (payout.status, payout.reversed_amount) == ("paid", 1500)
    assert selectors.balance_for_worker(worker) == {"currency": "eur", "pending": 0, "available": 1500,
                                                    "in_transit": 0, "paid": 1000}
    assert ledger.ledger_verify().ok


def test_reversal_webhook_before_the_run_records_the_transfer_then_the_run_resumes(
        db, payouts_inline, stripe_sandbox, signed_post, ready_worker_factory, earn):
    worker = ready_worker_factory()
    earn(worker, cases=5)
    run = runs.payout_run_create()
    runs.payouts_create_for_run(run=run)
    payout = Payout.objects.get(worker=worker)
    # The process sent the transfer and died before recording the answer; then it was reversed.
    transfer = stripe_gateway.transfer_create(
        amount=payout.amount, currency="eur", destination=payout.destination, transfer_group=run.transfer_group,
        idempotency_key=payout.idempotency_key,
        metadata={"payout_id": str(payout.pk), "run_id": str(run.pk), "worker_id": str(worker.pk)},
        description=f"Shiftline payout {payout.pk}")
    stripe_gateway.stripe_client().v1.transfers.reversals.create(transfer.id)

    assert signed_post(_events("transfer.reversed")[-1]).status_code == 200
    runs.payout_run_execute(run_id=run.pk)

    payout.refresh_from_db()
    assert (payout.status, payout.stripe_transfer_id, payout.reversed_amount) == ("paid", transfer.id, 2500)
    assert len(stripe_sandbox.transfers()) == 1
    assert selectors.balance_for_worker(worker) == {"currency": "eur", "pending": 0, "available": 2500,
                                                    "in_transit": 0, "paid": 0}
    assert ledger.ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_onboarding_end_to_end_the_sandbox_webhook_makes_the_account_ready(stripe_sandbox, asgi_server_factory):
    server = asgi_server_factory(STRIPE_API_BASE=stripe_sandbox.url)
    stripe_sandbox.set_webhook(f"{server.url}/api/v1/payouts/stripe/webhook/")
    worker = WorkerFactory()
    token, _ = Token.objects.get_or_create(user=worker.user)
    headers = {"Authorization": f"Token {token.key}"}

    response = httpx.post(f"{server.url}/api/v1/workers/me/payout-account/", headers=headers, timeout=30)

    assert response.status_code == 200
    worker.refresh_from_db()
    assert worker.payout_account_status == "pending" and worker.stripe_account_id.startswith("acct_")
    opened = httpx.get(response.json()["onboarding_url"], timeout=30)
    assert opened.status_code == 302 and opened.headers["location"].startswith(f"{server.url}/earnings/")
    worker.refresh_from_db()
    assert worker.payout_account_status == "ready"
    # The link was single-use: opening it again sends the worker to the refresh_url for a new one.
    again = httpx.get(response.json()["onboarding_url"], timeout=30)
    assert again.headers["location"] == f"{server.url}/earnings/payout-account/refresh/"
    assert StripeEvent.objects.filter(type="account.updated").count() == 1


@pytest.mark.parametrize(("offset", "status"), [(-400, 400), (-60, 200), (45, 200), (600, 400), (86_400 * 30, 400)])
def test_webhook_timestamp_must_be_recent_and_not_in_the_future(db, stripe_sandbox, api_client, offset, status):
    """Signed with our secret, but stamped `offset` seconds from now: a replay older than five
    minutes is refused, and so is a stamp beyond a minute ahead (it would stay replayable)."""
    import json
    import time

    from django.conf import settings

    from stripe_sandbox.server import sign

    event = {"id": f"evt_stamp_{offset}", "object": "event", "type": "balance.available", "livemode": False,
             "created": int(time.time()), "data": {"object": {"id": "bal_1"}}}
    payload = json.dumps(event).encode()

    response = api_client.generic("POST", "/api/v1/payouts/stripe/webhook/", payload, content_type="application/json",
                                  HTTP_STRIPE_SIGNATURE=sign(payload, settings.STRIPE_WEBHOOK_SECRET,
                                                             timestamp=int(time.time()) + offset))

    assert response.status_code == status
    assert StripeEvent.objects.filter(event_id=event["id"]).count() == (1 if status == 200 else 0)

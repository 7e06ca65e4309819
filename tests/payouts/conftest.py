"""Fixtures of the payouts tests: signed webhook posts. The Stripe sandbox, connected workers and
earnings come from `tests/payouts/fixtures.py` (a plugin: the reports tests use them too).

Stripe is only ever reached through the official SDK against the sandbox: nothing is mocked.
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings

from stripe_sandbox.server import sign


@pytest.fixture(autouse=True)
def _skill_catalogue(skill_catalogue):
    """The ticket factories need the skill catalogue `migrate` seeds."""


@pytest.fixture
def signed_post(api_client):
    """`signed_post(event_dict, secret=None)`: POST an event to the webhook endpoint, signed."""

    def post(event: dict, secret: str | None = None, signature: str | None = None):
        payload = json.dumps(event).encode()
        header = signature if signature is not None else sign(payload, secret or django_settings.STRIPE_WEBHOOK_SECRET)
        return api_client.generic("POST", "/api/v1/payouts/stripe/webhook/", payload,
                                  content_type="application/json", HTTP_STRIPE_SIGNATURE=header)

    return post

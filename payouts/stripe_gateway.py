"""The one place Shiftline talks to Stripe: the official SDK, pointed at `STRIPE_API_BASE` when set.

Only thin calls live here; what they mean for money lives in `payouts.runs` and `payouts.stripe_connect`.
"""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum

import stripe
from django.conf import settings
from stripe.params import AccountCreateParams, TransferCreateParams, TransferListParams

_local = threading.local()
# The SDK logs every request at INFO; our own records (payout events) say what matters.
logging.getLogger("stripe").setLevel(logging.WARNING)


def stripe_client() -> stripe.StripeClient:
    """A StripeClient for the configured key and base address (one per thread, reused).

    The SDK's own network retries are off: payouts retry themselves with the same idempotency
    key, so every attempt is counted and backed off.
    """
    base = (settings.STRIPE_API_BASE or "").rstrip("/")
    timeout = float(settings.PAYOUTS.get("STRIPE_TIMEOUT", 10)) if hasattr(settings, "PAYOUTS") else 10.0
    config = (base, settings.STRIPE_SECRET_KEY, timeout)
    cached = getattr(_local, "client", None)
    if cached is not None and cached[0] == config:
        return cached[1]
    kwargs: dict = {}
    if base:
        kwargs["base_addresses"] = {"api": base, "connect": base, "files": base, "meter_events": base}
    client = stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=timeout),
        **kwargs,
    )
    _local.client = (config, client)
    return client


class Outcome(StrEnum):
    TRANSIENT = "transient"  # timeout, connection, 5xx, 429, 409 in-flight: retry with the same key
    PERMANENT = "permanent"  # Stripe refused the request for good
    STUCK = "stuck"  # a mistake on our side (idempotency mismatch): keep the money put, tell people


def classify(exc: stripe.StripeError) -> Outcome:
    """How a Stripe error should be treated by a caller that retries with the same key."""
    if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError)):
        return Outcome.TRANSIENT
    if isinstance(exc, stripe.IdempotencyError):
        return Outcome.STUCK
    if isinstance(exc, stripe.AuthenticationError):
        # Our key is wrong: not the worker's fault and fixable by operators.
        return Outcome.TRANSIENT
    status = exc.http_status or 0
    if status >= 500 or status in (409, 429) or status == 0:
        return Outcome.TRANSIENT
    if isinstance(exc, (stripe.InvalidRequestError, stripe.PermissionError, stripe.CardError)):
        return Outcome.PERMANENT
    if 400 <= status < 500:
        return Outcome.PERMANENT
    return Outcome.TRANSIENT


def transfer_create(*, amount: int, currency: str, destination: str, transfer_group: str,
                    idempotency_key: str, metadata: dict[str, str], description: str = "") -> stripe.Transfer:
    params: TransferCreateParams = {
        "amount": amount,
        "currency": currency,
        "destination": destination,
        "transfer_group": transfer_group,
        "metadata": metadata,
    }
    if description:
        params["description"] = description
    return stripe_client().v1.transfers.create(params=params, options={"idempotency_key": idempotency_key})


def transfers_list(*, transfer_group: str | None = None, limit: int = 100):
    """Auto-paginating iterator over transfers (optionally of one transfer group)."""
    params: TransferListParams = {"limit": limit}
    if transfer_group:
        params["transfer_group"] = transfer_group
    return stripe_client().v1.transfers.list(params=params).auto_paging_iter()


def account_create(*, worker_id: int, email: str, country: str) -> stripe.Account:
    """A connected account with controller properties (Express dashboard, platform owns losses).

    Keyed by the worker id, so a double click or two tabs create one account.
    """
    params: AccountCreateParams = {
        "country": country or "PT",
        "controller": {
            "fees": {"payer": "application"},
            "losses": {"payments": "application"},
            "stripe_dashboard": {"type": "express"},
        },
        "capabilities": {"transfers": {"requested": True}},
        "metadata": {"worker_id": str(worker_id)},
    }
    if email:
        params["email"] = email
    return stripe_client().v1.accounts.create(
        params=params, options={"idempotency_key": f"shiftline-account-worker-{worker_id}"}
    )


def account_retrieve(account_id: str) -> stripe.Account:
    return stripe_client().v1.accounts.retrieve(account_id)


def account_link_create(*, account_id: str, refresh_url: str, return_url: str) -> stripe.AccountLink:
    return stripe_client().v1.account_links.create(
        params={"account": account_id, "refresh_url": refresh_url, "return_url": return_url,
                "type": "account_onboarding"}
    )


# The sandbox's public default webhook secret and API key (settings.py): anyone can sign with
# them, so a production deployment must not run with them (payouts.checks).
SANDBOX_WEBHOOK_SECRET = "whsec_shiftline_sandbox"
SANDBOX_SECRET_KEY = "sk_test_shiftline_sandbox"
# How far a webhook's signed timestamp may be ahead of our clock (clock skew only).
WEBHOOK_FUTURE_TOLERANCE = 60


def webhook_verify(*, payload: bytes, header: str) -> None:
    """Verify a webhook's `Stripe-Signature` with the SDK, rejecting a replay older than
    `STRIPE_WEBHOOK_TOLERANCE` seconds (the SDK's check) and a timestamp more than
    `WEBHOOK_FUTURE_TOLERANCE` seconds in the future (ours: the SDK only looks back, so a
    signature made for a future time would stay replayable until then).
    Raises `stripe.SignatureVerificationError`."""
    tolerance = int(getattr(settings, "STRIPE_WEBHOOK_TOLERANCE", 300))
    stripe.WebhookSignature.verify_header(payload, header, settings.STRIPE_WEBHOOK_SECRET, tolerance)
    stamps = [item.partition("=")[2] for item in header.split(",") if item.strip().startswith("t=")]
    if not stamps or not stamps[0].strip().isdigit() or int(stamps[0]) > time.time() + WEBHOOK_FUTURE_TOLERANCE:
        raise stripe.SignatureVerificationError("Timestamp is in the future beyond the tolerance.",
                                                header, payload.decode("utf-8", "replace"))

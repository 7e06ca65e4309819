"""A customer identity the embedding site vouches for.

A typed email proves nothing: anyone can type another person's. The site that embeds the widget
knows its signed-in customer, so it passes that customer's id with an HMAC-SHA256 of the id made
with the secret it shares with Shiftline (`WIDGET_IDENTITY_SECRET`), as `data-customer-id` and
`data-customer-signature` on the widget's script tag. Shiftline checks the signature when the
ticket is created and stores the id as the ticket's `customer_key`; the worker console's earlier
tickets are matched on that key only.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

CUSTOMER_ID_MAX_LENGTH = 200


def customer_signature(customer_id: str, secret: str | None = None) -> str:
    """The hex HMAC-SHA256 of the id with the site secret (what the embedding site computes)."""
    key = (settings.WIDGET_IDENTITY_SECRET if secret is None else secret).encode()
    return hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()


def customer_identity_errors(customer_id: str, signature: str) -> dict[str, list[str]]:
    """Why a (customer_id, signature) pair is refused; empty when both are absent or it verifies."""
    if not customer_id and not signature:
        return {}
    if not customer_id:
        return {"customer_id": ["Send the customer id with its signature."]}
    if not signature:
        return {"customer_signature": ["Send the signature with the customer id."]}
    if len(customer_id) > CUSTOMER_ID_MAX_LENGTH or not customer_id.isprintable():
        return {"customer_id": [f"At most {CUSTOMER_ID_MAX_LENGTH} printable characters."]}
    if not settings.WIDGET_IDENTITY_SECRET:
        return {"customer_signature": ["This site does not accept signed customer identities."]}
    if not hmac.compare_digest(customer_signature(customer_id), signature.lower()):
        return {"customer_signature": ["The signature does not match the customer id."]}
    return {}

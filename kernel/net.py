"""The client's address, as `TRUSTED_PROXY_COUNT` allows (API.md, "Running").

With 0 (the default) `X-Forwarded-For` is ignored and the peer address is the client; with N, the
client is the Nth address from the right of `X-Forwarded-For` (the one the outermost trusted proxy
saw), or the peer when the header has fewer. DRF's throttles use the same rule via `NUM_PROXIES`.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(peer: str | None, forwarded_for: str | None) -> str | None:
    proxies = settings.TRUSTED_PROXY_COUNT
    address = peer
    if proxies and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            address = hops[-min(proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def request_client_address(request: HttpRequest) -> str | None:
    return client_address(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))


def scope_client_address(scope: dict) -> str | None:
    """The same for an ASGI scope (websockets)."""
    peer = scope.get("client")
    forwarded = [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"]
    return client_address(peer[0] if peer else None, ",".join(forwarded) or None)

"""Where the current action comes from: the client address of the request or socket being served.

Services know their actor (they take it as an argument) but not the address, which only the
interface knows. `AuditAddressMiddleware` (HTTP) and `AuditAddressAsgiMiddleware` (websockets) set
it for the code they run, `record()` reads it when given no `ip`, and tasks and commands, which
set nothing, record no address. A context variable follows the request into the thread that runs
it and into `sync_to_async` calls, and is reset when the request ends, so it cannot leak into the
next request served by the same thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from kernel.net import request_client_address, scope_client_address

_client_address: ContextVar[str | None] = ContextVar("audit_client_address", default=None)


def current_client_address() -> str | None:
    return _client_address.get()


@contextmanager
def acting_from(address: str | None) -> Iterator[None]:
    """Run a block as if serving a client at `address` (None: no client, as in a task)."""
    reset = _client_address.set(address)
    try:
        yield
    finally:
        _client_address.reset(reset)


class AuditAddressMiddleware:
    """Django middleware: the request's client address (per `TRUSTED_PROXY_COUNT`) for the audit trail."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting_from(request_client_address(request)):
            return self.get_response(request)


class AuditAddressAsgiMiddleware:
    """ASGI middleware for websockets: the socket's client address for everything its consumer runs."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        with acting_from(scope_client_address(scope)):
            return await self.app(scope, receive, send)

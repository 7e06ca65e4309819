"""Every websocket route (walked from marketplace.routing, so a new one needs a row here), for every
kind of caller: accepted, or refused at the handshake (HTTP 403, never accepted then closed)."""

from __future__ import annotations

import asyncio

import pytest
from rest_framework.authtoken.models import Token

from marketplace.routing import websocket_urlpatterns
from tests.factories.tickets import TicketFactory, on_shift_worker
from tests.factories.workers import StaffFactory
from tests.tickets.wsclient import connect, websockets

pytestmark = [pytest.mark.slow]

ROLES = ("anonymous", "customer", "worker_a", "worker_b", "ops", "finance", "admin")
OK, REFUSED = "accepted", 403

# route pattern -> (path, outcome per role in ROLES order). The customer holds the token of another
# ticket than the one whose socket is tried; API tokens never open a customer socket.
MATRIX = {
    r"^ws/echo/(?P<room>[^/]+)/$": ("/ws/echo/room-1/", (REFUSED, REFUSED, OK, OK, OK, OK, OK)),
    r"^ws/shifts/$": ("/ws/shifts/", (REFUSED, REFUSED, OK, OK, OK, OK, OK)),
    r"^ws/tickets/(?P<ticket_id>[0-9]{1,18})/$": ("/ws/tickets/{ticket}/",
                                                  (REFUSED, REFUSED, REFUSED, REFUSED, REFUSED, REFUSED, REFUSED)),
    r"^ws/agent/$": ("/ws/agent/", (REFUSED, REFUSED, OK, OK, REFUSED, REFUSED, REFUSED)),
    r"^ws/ops/live/$": ("/ws/ops/live/", (REFUSED, REFUSED, REFUSED, REFUSED, OK, REFUSED, OK)),
}


async def outcome(uri: str) -> str | int:
    try:
        async with connect(uri, open_timeout=10):
            return OK
    except websockets.exceptions.InvalidStatus as exc:
        return exc.response.status_code


def test_every_websocket_route_for_every_caller(asgi_server_factory):
    server = asgi_server_factory(RATELIMIT_ENABLE="false", STAFF_2FA_REQUIRED="false")
    routes = {str(pattern.pattern) for pattern in websocket_urlpatterns}
    assert routes == set(MATRIX), "websocket routes and the matrix differ"

    worker_a, worker_b = on_shift_worker(connected=False), on_shift_worker(connected=False)
    ticket = TicketFactory(status="assigned", assigned_worker=worker_a, assigned_claim=worker_a.claim)
    other_ticket = TicketFactory()
    users = {"worker_a": worker_a.user, "worker_b": worker_b.user, "ops": StaffFactory(role="ops"),
             "finance": StaffFactory(role="finance"), "admin": StaffFactory(role="admin")}
    tokens = {"anonymous": None, "customer": other_ticket.token}
    tokens |= {role: Token.objects.get_or_create(user=user)[0].key for role, user in users.items()}

    async def walk():
        wrong = []
        for route, (path, expected) in MATRIX.items():
            for role, want in zip(ROLES, expected, strict=True):
                uri = server.ws_url + path.format(ticket=ticket.id)
                if tokens[role]:
                    uri += f"?token={tokens[role]}"
                got = await outcome(uri)
                if got != want:
                    wrong.append(f"{route} as {role}: {got} (expected {want})")
        # The ticket's own token opens it: the refusals above are about who asks, not the route.
        own = await outcome(f"{server.ws_url}/ws/tickets/{ticket.id}/?token={ticket.token}")
        return wrong, own

    wrong, own = asyncio.run(walk())
    assert wrong == []
    assert own == OK

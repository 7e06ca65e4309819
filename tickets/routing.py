"""Websocket routes of live chat (mounted by marketplace.routing behind kernel.ws security)."""

from django.urls import re_path

from tickets.consumers import AgentConsumer, LiveBoardConsumer, TicketConsumer

websocket_urlpatterns: list = [
    re_path(r"^ws/tickets/(?P<ticket_id>[0-9]{1,18})/$", TicketConsumer.as_asgi()),
    re_path(r"^ws/agent/$", AgentConsumer.as_asgi()),
    re_path(r"^ws/ops/live/$", LiveBoardConsumer.as_asgi()),
]

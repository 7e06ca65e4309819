"""Websocket routes of the workers app (mounted by marketplace.routing behind kernel.ws security)."""

from django.urls import re_path

from workers.consumers import ShiftBoardConsumer

websocket_urlpatterns: list = [
    re_path(r"^ws/shifts/$", ShiftBoardConsumer.as_asgi()),
]

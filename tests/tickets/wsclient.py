"""Small helpers for driving live-chat sockets on real servers with the `websockets` client."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets
from websockets.asyncio.client import connect

__all__ = ["connect", "open_ticket_over_http", "recv", "recv_type", "silent", "refused", "websockets"]


def open_ticket_over_http(server, **overrides) -> dict:
    """A customer opens a ticket on a running server (the widget's request); its JSON with the token."""
    body = {"name": "Ana", "email": "ana@example.com", "language": "en", "topic": "general",
            "message": "Where is my refund?"}
    body.update(overrides)
    response = httpx.post(f"{server.url}/api/v1/tickets/", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


async def recv(ws, timeout: float = 5) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_type(ws, kind: str, timeout: float = 5) -> dict:
    """The next event of `kind`, skipping others (typing, queue positions)."""
    while True:
        event = await recv(ws, timeout)
        if event["type"] == kind:
            return event


async def silent(ws, within: float = 0.5, ignore: tuple[str, ...] = ("queue.position",)) -> list[dict]:
    """Every frame that arrives within `within` seconds (except ignored types)."""
    frames = []
    try:
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), within))
            if event["type"] not in ignore:
                frames.append(event)
    except TimeoutError:
        return frames


async def refused(uri: str, **kwargs) -> int:
    """The HTTP status of a refused handshake (fails when the socket is accepted)."""
    try:
        async with connect(uri, open_timeout=5, **kwargs):
            pass
    except websockets.exceptions.InvalidStatus as exc:
        return exc.response.status_code
    raise AssertionError(f"{uri} was accepted")

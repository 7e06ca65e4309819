"""What an outbox handler may use: the batch marker and the "not ready yet" signal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class EventNotReady(Exception):
    """Raised by a handler when its event depends on one not consumed yet (a rating before the
    resolve it rates). Nothing is recorded; the relay retries the event within a second."""


def batch_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a handler as taking `events=[(event_id, payload), ...]` rather than one event: the
    relay hands it one event, `outbox_consume_batch` many at once, in one transaction."""
    handler.outbox_batch = True  # type: ignore[attr-defined]
    return handler

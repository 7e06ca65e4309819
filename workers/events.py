"""Websocket payloads of the workers app and their group names.

The shift board listens on one group: seat counts and multipliers are the same for everyone who
may see a shift, and a board only renders updates for the shifts it already shows.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

SHIFT_BOARD_GROUP = "shifts.board"


class ShiftUpdated(TypedDict):
    type: str  # "shift.updated"
    shift: int
    capacity: int
    seats_taken: int
    seats_left: int
    rate_multiplier: str
    status: str


def shift_updated(*, shift_id: int, capacity: int, seats_taken: int, rate_multiplier: Decimal | str,
                  status: str) -> ShiftUpdated:
    return {
        "type": "shift.updated",
        "shift": shift_id,
        "capacity": capacity,
        "seats_taken": seats_taken,
        "seats_left": max(capacity - seats_taken, 0),
        "rate_multiplier": str(rate_multiplier),
        "status": status,
    }


def _send(payload: ShiftUpdated) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(SHIFT_BOARD_GROUP, {"type": "board.event", "payload": payload})
    except Exception:  # the layer is at-most-once; the board re-reads the API on reconnect
        logger.warning("shift board broadcast failed", exc_info=True)


def broadcast_shift_on_commit(payload: ShiftUpdated) -> None:
    """Send the shift's new seat count once the current transaction commits (nothing on rollback)."""
    transaction.on_commit(lambda: _send(payload))

"""Websocket payloads of the workers app and their group names.

The shift board listens on one group: seat counts and multipliers are the same for everyone who
may see a shift, and a board only renders updates for the shifts it already shows.

Broadcasts leave the request path: after commit a service only queues the shift's id; one
broadcaster thread per process wakes, waits 100 ms to gather a burst, re-reads those shifts'
committed state and publishes it in one layer message (each socket then gets one event per shift).
So a board always receives the latest state (never an older one overtaking a newer), a burst of
claims costs one publish however many shifts it touches, and a slow or missing Redis never slows a
claim. The layer is at-most-once; boards re-read the API when they reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from decimal import Decimal
from typing import TypedDict

from channels.layers import get_channel_layer
from django.db import close_old_connections, connection, transaction

from kernel.realtime import server_loop

logger = logging.getLogger(__name__)

SHIFT_BOARD_GROUP = "shifts.board"
COALESCE_SECONDS = 0.1


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
        "rate_multiplier": f"{Decimal(rate_multiplier):.2f}",
        "status": status,
    }


class _Broadcaster:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: set[int] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, shift_id: int) -> None:
        with self._lock:
            self._pending.add(shift_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="shift-board-broadcaster", daemon=True)
                self._thread.start()
        self._wake.set()

    def _take(self) -> list[int]:
        with self._lock:
            ids = sorted(self._pending)
            self._pending.clear()
            self._wake.clear()
        return ids

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(COALESCE_SECONDS)
            ids = self._take()
            if not ids:
                continue
            try:
                payloads = self._read(ids)
                if not payloads:
                    continue
                # One layer message per burst, however many shifts it covers; consumers fan it out.
                message = get_channel_layer().group_send(
                    SHIFT_BOARD_GROUP, {"type": "board.events", "payloads": payloads})
                loop_of_server = server_loop()
                if loop_of_server is not None:
                    # The server's own loop: the only one an in-memory layer can deliver on.
                    asyncio.run_coroutine_threadsafe(message, loop_of_server).result(timeout=5)
                else:
                    loop.run_until_complete(message)
            except Exception:  # at-most-once: a lost update is corrected by the next one or a reload
                logger.warning("shift board broadcast failed", exc_info=True)

    @staticmethod
    def _read(ids: list[int]) -> list[ShiftUpdated]:
        from workers.models import Shift

        close_old_connections()
        try:
            rows = Shift.objects.with_seats_taken().filter(pk__in=ids).only(
                "pk", "capacity", "rate_multiplier", "status")
            return [shift_updated(shift_id=row.pk, capacity=row.capacity, seats_taken=row.seats_taken,
                                  rate_multiplier=row.rate_multiplier, status=row.status) for row in rows]
        finally:
            connection.close()


_broadcaster = _Broadcaster()


def broadcast_shift(shift_id: int) -> None:
    """Announce the shift's new state to every board (its change is committed already)."""
    _broadcaster.submit(shift_id)


def broadcast_shift_on_commit(shift_id: int) -> None:
    """Announce the shift's new state to every board once the current transaction commits."""
    transaction.on_commit(lambda: _broadcaster.submit(shift_id))

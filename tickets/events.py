"""Websocket payloads of live chat and the channel-layer group names they travel in.

Groups: `tkt.<ticket id>` reaches the customer sockets of one ticket (never internal notes);
`agt.<worker id>` reaches every agent socket of one worker (all of their tickets); `ops.live`
reaches every ops live board.

The live board is pushed whole: after commit a service only marks the board changed; one
broadcaster thread per process gathers the burst, waits until `OPS_LIVE_PUSH_INTERVAL` has passed
since its last push, reads the snapshot once (`selectors.live_board`) and publishes it, serialised
once, in one layer message. A burst of changes costs one query set and one publish per interval
per process, however many boards listen; a slow or missing Redis never slows the write. The
layer is at-most-once, and each snapshot is the whole state, so the next one corrects a lost one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connection, transaction

from kernel.realtime import run_soon
from tickets.models import Message

logger = logging.getLogger(__name__)

LIVE_BOARD_GROUP = "ops.live"


def ticket_group(ticket_id: int) -> str:
    return f"tkt.{ticket_id}"


def agent_group(worker_id: int) -> str:
    return f"agt.{worker_id}"


def message_event(message: Message) -> dict[str, Any]:
    return message_event_of(ticket=message.ticket_id, seq=message.seq, sender=message.sender, body=message.body,
                            client_id=message.client_id, sent_at=message.sent_at, internal=message.internal)


def message_event_of(*, ticket: int, seq: int, sender: str, body: str, client_id: str, sent_at: dt.datetime,
                     internal: bool) -> dict[str, Any]:
    """`message_event` from a message's fields, without a `Message` instance (the socket path)."""
    return {
        "type": "message",
        "ticket": ticket,
        "seq": seq,
        "sender": sender,
        "body": body,
        "client_id": client_id,
        "sent_at": sent_at.isoformat(),
        "internal": internal,
    }


def ticket_assigned_event(ticket_json: dict) -> dict[str, Any]:
    return {"type": "ticket.assigned", "ticket": ticket_json}


def ticket_resolved_event(ticket_id: int) -> dict[str, Any]:
    return {"type": "ticket.resolved", "ticket": ticket_id}


def ticket_transferred_event(ticket_id: int) -> dict[str, Any]:
    return {"type": "ticket.transferred", "ticket": ticket_id}


def typing_event(ticket_id: int, sender: str) -> dict[str, Any]:
    return {"type": "typing", "ticket": ticket_id, "sender": sender}


def queue_position_event(ticket_id: int, position: int) -> dict[str, Any]:
    return {"type": "queue.position", "ticket": ticket_id, "position": position}


def error_event(code: str, detail: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail}


def to_ticket(ticket_id: int, event: dict[str, Any], *, holder: int | None = None) -> tuple[str, dict[str, Any]]:
    """`(group, layer message)` publishing a client event on the ticket's own group: its customer's
    sockets, and the consoles of the worker holding it, which listen there too, so that a chat
    message is published once for both sides. `holder`, on a chat message, is the worker who held
    the ticket when it was stored: the only console that relays it (consoles relay nothing else
    from a ticket's group; what concerns them comes on their own group)."""
    message: dict[str, Any] = {"type": "ticket.event", "event": event}
    if holder is not None:
        message["holder"] = holder
    return ticket_group(ticket_id), message


def to_worker(worker_id: int, event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """`(group, layer message)` publishing a client event to every console of one worker."""
    return agent_group(worker_id), {"type": "worker.event", "event": event}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_as_json(ticket, *, queue_position: int | None = None) -> dict[str, Any]:
    """The ticket as `GET /api/v1/tickets/{id}/` shows it (and `ticket.assigned` carries it)."""
    body: dict[str, Any] = {
        "id": ticket.id,
        "status": ticket.status,
        "language": ticket.language,
        "topic": ticket.topic_id,
        "assigned_worker": ticket.assigned_worker_id,
        "created_at": _iso(ticket.created_at),
        "first_response_at": _iso(ticket.first_response_at),
        "resolved_at": _iso(ticket.resolved_at),
        "rating": ticket.rating,
        # Extras for the console and the widget.
        "customer_name": ticket.customer_name,
        "customer_email": ticket.customer_email,
        "assigned_at": _iso(ticket.assigned_at),
        "resolution_category": ticket.resolution_category,
        "last_seq": ticket.last_seq,
    }
    if queue_position is not None:
        body["queue_position"] = queue_position
    return body


# --- Ops live board ----------------------------------------------------------------------------


def live_board_event(board: dict[str, Any]) -> dict[str, Any]:
    """`{"type": "live_board", "board": <GET /api/v1/tickets/live-board/>}`."""
    return {"type": "live_board", "board": board}


def live_board_layer_message(board: dict[str, Any]) -> dict[str, Any]:
    """The layer message for `LIVE_BOARD_GROUP`: the frame already serialised, sent as is by each socket."""
    return {"type": "live_board.push", "generated_at": board["generated_at"],
            "text": json.dumps(live_board_event(board))}


class _LiveBoardBroadcaster:
    """One thread per process that turns "the board changed" marks into at most one snapshot push
    per `OPS_LIVE_PUSH_INTERVAL` (see the module docstring)."""

    GATHER_SECONDS = 0.05

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_push = float("-inf")

    def submit(self) -> None:
        with self._lock:
            self._changed = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ops-live-broadcaster", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            interval = settings.SHIFTLINE["OPS_LIVE_PUSH_INTERVAL"]
            time.sleep(max(self.GATHER_SECONDS, self._last_push + interval - time.monotonic()))
            with self._lock:
                if not self._changed:
                    self._wake.clear()
                    continue
                # Marks from here on are after this read's start: they will cause another push.
                self._changed = False
                self._wake.clear()
            self._last_push = time.monotonic()
            try:
                self._push()
            except Exception:  # at-most-once: the next snapshot corrects a lost one
                logger.warning("ops live board push failed", exc_info=True)

    @staticmethod
    def _push() -> None:
        from tickets.selectors import live_board

        layer = get_channel_layer()
        if layer is None or not live_board_listened():
            return
        close_old_connections()
        try:
            message = live_board_layer_message(live_board())
        finally:
            connection.close()

        async def publish() -> None:
            try:
                await layer.group_send(LIVE_BOARD_GROUP, message)
            except Exception:
                logger.warning("ops live board publish failed", exc_info=True)

        run_soon(publish)


_live_board_broadcaster = _LiveBoardBroadcaster()

# Set by every open ops board (on connect, then at each refresh) in the shared cache: with no ops
# board open anywhere, processes skip building snapshots nobody would receive (a thousand consoles
# reconnecting would otherwise rebuild it twice a second in every process).
LIVE_BOARD_LISTENING_KEY = "ops-live:listening"
LIVE_BOARD_LISTENING_SECONDS = 60


def live_board_listening_mark() -> None:
    cache.set(LIVE_BOARD_LISTENING_KEY, True, LIVE_BOARD_LISTENING_SECONDS)


def live_board_listened() -> bool:
    return bool(cache.get(LIVE_BOARD_LISTENING_KEY))


def live_board_changed() -> None:
    """The queue, a worker's load or presence, or an SLA changed: push the board to every ops socket
    once the current transaction commits (soon, coalesced with other changes)."""
    transaction.on_commit(_live_board_broadcaster.submit)


def live_board_changed_now() -> None:
    """`live_board_changed` for a change already committed (async code, outside Django transactions)."""
    _live_board_broadcaster.submit()

"""Outbox consumers of the tickets app (see `settings.OUTBOX_HANDLERS`): each runs once per event."""

from __future__ import annotations

from tickets.events import live_board_changed
from tickets.services import ticket_route, tickets_requeue_for_worker


def on_worker_checked_in(*, event_id, payload: dict) -> None:
    """A worker checked in: capacity grew, route the queue; the live board lists them on shift."""
    live_board_changed()
    ticket_route()


def on_worker_checked_out(*, event_id, payload: dict) -> None:
    """Check-out or shift end: hand the worker's open tickets over (front of the queue, then routed);
    the live board no longer lists them on shift."""
    live_board_changed()
    tickets_requeue_for_worker(worker_id=payload["worker_id"], kind="handed_over", reason="Worker checked out.")


def on_worker_suspended(*, event_id, payload: dict) -> None:
    live_board_changed()
    tickets_requeue_for_worker(worker_id=payload["worker_id"], kind="requeued", reason="Worker suspended.")

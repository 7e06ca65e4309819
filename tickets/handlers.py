"""Outbox consumers of the tickets app (see `settings.OUTBOX_HANDLERS`): each runs once per event."""

from __future__ import annotations

from tickets.services import ticket_route, tickets_requeue_for_worker


def on_worker_checked_in(*, event_id, payload: dict) -> None:
    """A worker checked in: capacity grew, route the queue."""
    ticket_route()


def on_worker_checked_out(*, event_id, payload: dict) -> None:
    """Check-out or shift end: hand the worker's open tickets over (front of the queue, then routed)."""
    tickets_requeue_for_worker(worker_id=payload["worker_id"], kind="handed_over", reason="Worker checked out.")


def on_worker_suspended(*, event_id, payload: dict) -> None:
    tickets_requeue_for_worker(worker_id=payload["worker_id"], kind="requeued", reason="Worker suspended.")

"""Websocket payloads of live chat and the channel-layer group names they travel in.

Groups: `tkt.<ticket id>` reaches the customer sockets of one ticket (never internal notes);
`agt.<worker id>` reaches every agent socket of one worker (all of their tickets).
"""

from __future__ import annotations

from typing import Any

from tickets.models import Message


def ticket_group(ticket_id: int) -> str:
    return f"tkt.{ticket_id}"


def agent_group(worker_id: int) -> str:
    return f"agt.{worker_id}"


def message_event(message: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "ticket": message.ticket_id,
        "seq": message.seq,
        "sender": message.sender,
        "body": message.body,
        "client_id": message.client_id,
        "sent_at": message.sent_at.isoformat(),
        "internal": message.internal,
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


def layer_message(event: dict[str, Any]) -> dict[str, Any]:
    """Wrap a client event for `group_send`; consumers forward it via their `chat_event` handler."""
    return {"type": "chat.event", "event": event}


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

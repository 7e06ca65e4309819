"""Errors of the tickets app, each with a stable code (see API.md)."""

from enum import StrEnum

from kernel.errors import Conflict, DomainError, InvalidInput, InvalidTransition, NotAllowed, NotFound

__all__ = [
    "Conflict", "DomainError", "InvalidInput", "InvalidTransition", "NotAllowed", "NotFound",
    "TicketErrorCode", "TicketNotFound", "NotAssigned", "AlreadyRated", "ReopenWindowClosed", "WorkerUnavailable",
    "TicketClosed",
]


class TicketErrorCode(StrEnum):
    """The codes the tickets app answers with, over HTTP and in socket `error` events."""

    NOT_FOUND = "not_found"
    NOT_ASSIGNED = "not_assigned"
    ALREADY_RATED = "already_rated"
    REOPEN_WINDOW_CLOSED = "reopen_window_closed"
    WORKER_UNAVAILABLE = "worker_unavailable"
    TICKET_CLOSED = "ticket_closed"
    # Socket frames only.
    MALFORMED_FRAME = "malformed_frame"
    FRAME_TOO_LARGE = "frame_too_large"
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"
    RATE_LIMITED = "rate_limited"
    READ_ONLY = "read_only"


class TicketNotFound(NotFound):
    code = TicketErrorCode.NOT_FOUND
    default_detail = "No such ticket."


class NotAssigned(NotAllowed):
    code = TicketErrorCode.NOT_ASSIGNED
    default_detail = "Only the worker the ticket is assigned to can do this."


class AlreadyRated(Conflict):
    code = TicketErrorCode.ALREADY_RATED
    default_detail = "This ticket has already been rated."


class ReopenWindowClosed(Conflict):
    code = TicketErrorCode.REOPEN_WINDOW_CLOSED
    default_detail = "A ticket can only be reopened within 72 hours of being resolved."


class WorkerUnavailable(Conflict):
    code = TicketErrorCode.WORKER_UNAVAILABLE
    default_detail = "That worker is not on shift, not connected, or has no free slot for this ticket."


class TicketClosed(Conflict):
    code = TicketErrorCode.TICKET_CLOSED
    default_detail = "This ticket is closed; reopen it to write again."

"""Errors of the tickets app, each with a stable code (see API.md)."""

from marketplace.errors import Conflict, DomainError, InvalidInput, InvalidTransition, NotAllowed, NotFound

__all__ = [
    "Conflict", "DomainError", "InvalidInput", "InvalidTransition", "NotAllowed", "NotFound",
    "TicketNotFound", "NotAssigned", "AlreadyRated", "ReopenWindowClosed", "WorkerUnavailable",
    "TicketClosed",
]


class TicketNotFound(NotFound):
    code = "not_found"
    default_detail = "No such ticket."


class NotAssigned(NotAllowed):
    code = "not_assigned"
    default_detail = "Only the worker the ticket is assigned to can do this."


class AlreadyRated(Conflict):
    code = "already_rated"
    default_detail = "This ticket has already been rated."


class ReopenWindowClosed(Conflict):
    code = "reopen_window_closed"
    default_detail = "A ticket can only be reopened within 72 hours of being resolved."


class WorkerUnavailable(Conflict):
    code = "worker_unavailable"
    default_detail = "That worker is not on shift, not connected, or has no free slot for this ticket."


class TicketClosed(Conflict):
    code = "ticket_closed"
    default_detail = "This ticket is closed; reopen it to write again."

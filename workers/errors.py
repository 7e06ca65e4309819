"""Errors of the workers app, each with a stable code (see API.md)."""

from marketplace.errors import Conflict, InvalidInput, InvalidTransition, NotAllowed, NotFound

__all__ = [
    "Conflict", "InvalidInput", "InvalidTransition", "NotAllowed", "NotFound", "BadCredentials",
    "WorkerNotApproved", "NotEligible", "ShiftFull", "AlreadyClaimed", "ShiftOverlap", "ShiftEnded",
    "ShiftCancelled", "NotClaimed", "OutsideWindow", "NotCheckedIn", "StillCheckedIn", "ShiftNotFull",
    "AlreadyWaitlisted", "NotWaitlisted", "ShiftHasClaims", "AssessmentClosed", "AttemptTooSoon",
]


class BadCredentials(InvalidInput):
    code = "invalid_credentials"
    default_detail = "Unable to sign in with that username and password."


class WorkerNotApproved(NotAllowed):
    code = "worker_not_approved"
    default_detail = "Only approved workers can do this."


class NotEligible(NotAllowed):
    code = "not_eligible"
    default_detail = "You do not speak this shift's language or lack one of its skills."


class ShiftFull(Conflict):
    code = "shift_full"
    default_detail = "Every seat on this shift is taken."


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    default_detail = "You already hold a seat on this shift."


class ShiftOverlap(Conflict):
    code = "shift_overlap"
    default_detail = "You hold a claim on another shift at the same time."


class ShiftEnded(Conflict):
    code = "shift_ended"
    default_detail = "This shift has ended."


class ShiftCancelled(Conflict):
    code = "shift_cancelled"
    default_detail = "This shift was cancelled."


class NotClaimed(Conflict):
    code = "not_claimed"
    default_detail = "You hold no seat on this shift."


class OutsideWindow(Conflict):
    code = "outside_window"
    default_detail = "Check-in opens 15 minutes before the start and closes at the end of the shift."


class NotCheckedIn(Conflict):
    code = "not_checked_in"
    default_detail = "You have not checked in to this shift."


class StillCheckedIn(Conflict):
    code = "checked_in"
    default_detail = "You are checked in to this shift: check out instead of releasing it."


class ShiftNotFull(Conflict):
    code = "shift_not_full"
    default_detail = "This shift has free seats: claim one instead of joining the waitlist."


class AlreadyWaitlisted(Conflict):
    code = "already_waitlisted"
    default_detail = "You are already on this shift's waitlist."


class NotWaitlisted(Conflict):
    code = "not_waitlisted"
    default_detail = "You are not on this shift's waitlist."


class ShiftHasClaims(Conflict):
    code = "shift_has_claims"
    default_detail = "A shift can only be edited before anyone claims it."


class AssessmentClosed(Conflict):
    code = "assessment_closed"
    default_detail = "The assessment is only for applicants whose application is under review."


class AttemptTooSoon(Conflict):
    code = "attempt_too_soon"
    default_detail = "One assessment attempt per 24 hours."

"""Errors of the workers app, each with a stable code (see API.md)."""

from enum import StrEnum

from kernel.errors import Conflict, InvalidInput, InvalidTransition, NotAllowed, NotFound

__all__ = [
    "Conflict", "InvalidInput", "InvalidTransition", "NotAllowed", "NotFound", "BadCredentials",
    "WorkerNotApproved", "NotEligible", "ShiftFull", "AlreadyClaimed", "ShiftOverlap", "ShiftEnded",
    "ShiftCancelled", "NotClaimed", "OutsideWindow", "NotCheckedIn", "StillCheckedIn", "ShiftNotFull",
    "AlreadyWaitlisted", "NotWaitlisted", "ShiftHasClaims", "AssessmentClosed", "AttemptTooSoon",
    "PasswordIncorrect", "WorkerErrorCode",
]


class WorkerErrorCode(StrEnum):
    """The workers app's error codes, as they appear on the wire."""

    INVALID_CREDENTIALS = "invalid_credentials"
    WORKER_NOT_APPROVED = "worker_not_approved"
    NOT_ELIGIBLE = "not_eligible"
    SHIFT_FULL = "shift_full"
    ALREADY_CLAIMED = "already_claimed"
    SHIFT_OVERLAP = "shift_overlap"
    SHIFT_ENDED = "shift_ended"
    SHIFT_CANCELLED = "shift_cancelled"
    NOT_CLAIMED = "not_claimed"
    OUTSIDE_WINDOW = "outside_window"
    NOT_CHECKED_IN = "not_checked_in"
    CHECKED_IN = "checked_in"
    SHIFT_NOT_FULL = "shift_not_full"
    ALREADY_WAITLISTED = "already_waitlisted"
    NOT_WAITLISTED = "not_waitlisted"
    SHIFT_HAS_CLAIMS = "shift_has_claims"
    ASSESSMENT_CLOSED = "assessment_closed"
    ATTEMPT_TOO_SOON = "attempt_too_soon"
    PASSWORD_INCORRECT = "password_incorrect"


class BadCredentials(InvalidInput):
    code = WorkerErrorCode.INVALID_CREDENTIALS
    default_detail = "Unable to sign in with that username and password."


class WorkerNotApproved(NotAllowed):
    code = WorkerErrorCode.WORKER_NOT_APPROVED
    default_detail = "Only approved workers can do this."


class NotEligible(NotAllowed):
    code = WorkerErrorCode.NOT_ELIGIBLE
    default_detail = "You do not speak this shift's language or lack one of its skills."


class ShiftFull(Conflict):
    code = WorkerErrorCode.SHIFT_FULL
    default_detail = "Every seat on this shift is taken."


class AlreadyClaimed(Conflict):
    code = WorkerErrorCode.ALREADY_CLAIMED
    default_detail = "You already hold a seat on this shift."


class ShiftOverlap(Conflict):
    code = WorkerErrorCode.SHIFT_OVERLAP
    default_detail = "You hold a claim on another shift at the same time."


class ShiftEnded(Conflict):
    code = WorkerErrorCode.SHIFT_ENDED
    default_detail = "This shift has ended."


class ShiftCancelled(Conflict):
    code = WorkerErrorCode.SHIFT_CANCELLED
    default_detail = "This shift was cancelled."


class NotClaimed(Conflict):
    code = WorkerErrorCode.NOT_CLAIMED
    default_detail = "You hold no seat on this shift."


class OutsideWindow(Conflict):
    code = WorkerErrorCode.OUTSIDE_WINDOW
    default_detail = "Check-in opens 15 minutes before the start and closes at the end of the shift."


class NotCheckedIn(Conflict):
    code = WorkerErrorCode.NOT_CHECKED_IN
    default_detail = "You have not checked in to this shift."


class StillCheckedIn(Conflict):
    code = WorkerErrorCode.CHECKED_IN
    default_detail = "You are checked in to this shift: check out instead of releasing it."


class ShiftNotFull(Conflict):
    code = WorkerErrorCode.SHIFT_NOT_FULL
    default_detail = "This shift has free seats: claim one instead of joining the waitlist."


class AlreadyWaitlisted(Conflict):
    code = WorkerErrorCode.ALREADY_WAITLISTED
    default_detail = "You are already on this shift's waitlist."


class NotWaitlisted(Conflict):
    code = WorkerErrorCode.NOT_WAITLISTED
    default_detail = "You are not on this shift's waitlist."


class ShiftHasClaims(Conflict):
    code = WorkerErrorCode.SHIFT_HAS_CLAIMS
    default_detail = "A shift can only be edited before anyone claims it."


class AssessmentClosed(Conflict):
    code = WorkerErrorCode.ASSESSMENT_CLOSED
    default_detail = "The assessment is only for applicants whose application is under review."


class AttemptTooSoon(Conflict):
    code = WorkerErrorCode.ATTEMPT_TOO_SOON
    default_detail = "One assessment attempt per 24 hours."


class PasswordIncorrect(NotAllowed):
    code = WorkerErrorCode.PASSWORD_INCORRECT
    default_detail = "That is not your password; nothing was changed."

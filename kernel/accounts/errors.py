"""Errors of accounts and security (API.md, "Accounts and security")."""

from enum import StrEnum

from kernel.errors import DomainError, InvalidInput, NotAllowed


class AccountErrorCode(StrEnum):
    INVALID_CREDENTIALS = "invalid_credentials"
    OTP_REQUIRED = "otp_required"
    OTP_INVALID = "otp_invalid"
    LOCKED_OUT = "locked_out"
    ENROLLMENT_REQUIRED = "2fa_enrollment_required"
    NOT_STAFF = "not_staff"


class BadCredentials(InvalidInput):
    code = AccountErrorCode.INVALID_CREDENTIALS
    default_detail = "Unable to sign in with that username and password."


class OtpRequired(DomainError):
    status = 401
    code = AccountErrorCode.OTP_REQUIRED
    default_detail = "This account uses two-factor sign-in: send the 6-digit code from your app as `otp`."


class OtpInvalid(DomainError):
    status = 401
    code = AccountErrorCode.OTP_INVALID
    default_detail = "That two-factor code is not valid."


class LockedOut(DomainError):
    status = 429
    code = AccountErrorCode.LOCKED_OUT
    default_detail = "Too many failed sign-ins for this username: try again in 15 minutes, or ask ops to unlock it."


class EnrollmentRequired(NotAllowed):
    code = AccountErrorCode.ENROLLMENT_REQUIRED
    default_detail = "Staff accounts must set up two-factor sign-in first (POST /api/v1/auth/2fa/setup/)."


class NotStaff(NotAllowed):
    code = AccountErrorCode.NOT_STAFF
    default_detail = "Two-factor sign-in is for staff accounts."

"""The one hierarchy of domain errors. Each has a stable `code` and an HTTP status.

Services raise these; the DRF exception handler and the consumers render them in the API's
error shape `{"code", "detail"[, "fields"]}`.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Codes every app shares; each app adds its own enum in `<app>/errors.py`."""

    INVALID = "invalid"
    MALFORMED_REQUEST = "malformed_request"
    BAD_REQUEST = "bad_request"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    CONFLICT = "conflict"
    INVALID_TRANSITION = "invalid_transition"
    SERVER_ERROR = "server_error"
    SERVICE_UNAVAILABLE = "service_unavailable"


class DomainError(Exception):
    status = 400
    code: str = ErrorCode.INVALID
    default_detail = "The request is not valid."

    def __init__(self, detail: str | None = None, *, code: str | None = None,
                 fields: dict[str, list[str]] | None = None) -> None:
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        self.fields = fields
        super().__init__(self.detail)

    def as_dict(self) -> dict:
        body: dict = {"code": self.code, "detail": self.detail}
        if self.fields:
            body["fields"] = self.fields
        return body


class InvalidInput(DomainError):
    status = 400
    code: str = ErrorCode.INVALID


class NotAllowed(DomainError):
    status = 403
    code: str = ErrorCode.PERMISSION_DENIED
    default_detail = "You are not allowed to do this."


class NotFound(DomainError):
    status = 404
    code: str = ErrorCode.NOT_FOUND
    default_detail = "Not found."


class Conflict(DomainError):
    status = 409
    code: str = ErrorCode.CONFLICT
    default_detail = "This conflicts with the current state."


class InvalidTransition(Conflict):
    code: str = ErrorCode.INVALID_TRANSITION
    default_detail = "This action is not allowed from the current state."


class RateLimited(DomainError):
    """Too many requests for a limit a service applies itself (`kernel.drf.ScopeLimit`): 429, with
    the seconds to wait (`Retry-After` over HTTP)."""

    status = 429
    code: str = ErrorCode.RATE_LIMITED
    default_detail = "Too many requests; slow down and try again shortly."

    def __init__(self, detail: str | None = None, *, wait: float = 0.0) -> None:
        self.wait = wait
        if detail is None and wait:
            detail = f"Too many requests; try again in {int(wait) + 1} s."
        super().__init__(detail)

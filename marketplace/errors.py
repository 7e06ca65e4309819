"""The one hierarchy of domain errors. Each has a stable `code` and an HTTP status.

Services raise these; the DRF exception handler and the consumers render them in the API's
error shape `{"code", "detail"[, "fields"]}`.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "invalid"
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
    code = "invalid"


class NotAllowed(DomainError):
    status = 403
    code = "permission_denied"
    default_detail = "You are not allowed to do this."


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_detail = "Not found."


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_detail = "This conflicts with the current state."


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_detail = "This action is not allowed from the current state."

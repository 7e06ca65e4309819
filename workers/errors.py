"""Errors of the workers app, each with a stable code (see API.md)."""

from marketplace.errors import Conflict, InvalidInput, InvalidTransition, NotAllowed, NotFound

__all__ = ["Conflict", "InvalidInput", "InvalidTransition", "NotAllowed", "NotFound", "BadCredentials"]


class BadCredentials(InvalidInput):
    code = "invalid_credentials"
    default_detail = "Unable to sign in with that username and password."

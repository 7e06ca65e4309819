"""API tokens for tests, issued through the real service (only a digest is stored)."""

from __future__ import annotations

from kernel.accounts.tokens import token_issue


def api_token_for(user, *, otp_verified: bool = False) -> str:
    """A new API token of `user`, as `POST /api/v1/auth/token/` would issue it; returns the key."""
    return token_issue(user, otp_verified=otp_verified)

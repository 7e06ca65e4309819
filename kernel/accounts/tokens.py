"""Issuing and revoking API tokens. Every token write goes through here."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from kernel.accounts.models import ApiToken


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def is_staff_role(user) -> bool:
    return getattr(user, "role", "") in settings.STAFF_ROLES


def token_lifetime(user) -> timedelta:
    """Staff tokens live a working day, workers' a month (settings API_TOKEN_TTL_*)."""
    return settings.API_TOKEN_TTL_STAFF if is_staff_role(user) else settings.API_TOKEN_TTL_WORKER


def token_issue(user, *, otp_verified: bool = False) -> str:
    """A new token for `user`; returns the key (shown once, only its digest is stored). The user's
    expired tokens are dropped on the way, so they do not pile up."""
    now = timezone.now()
    ApiToken.objects.filter(user=user, expires_at__lte=now).delete()
    key = secrets.token_urlsafe(32)
    ApiToken.objects.create(digest=token_digest(key), user=user, expires_at=now + token_lifetime(user),
                            otp_verified=otp_verified)
    return key


def token_revoke(digest: str) -> bool:
    """Revoke one token by its digest. Safe to repeat."""
    return ApiToken.objects.filter(digest=digest).delete()[0] > 0


def token_mark_verified(digest: str) -> None:
    ApiToken.objects.filter(digest=digest).update(otp_verified=True)


def tokens_revoke_all(user_id: int) -> int:
    """Revoke every token of the user (password change or reset). Safe to repeat."""
    return ApiToken.objects.filter(user_id=user_id).delete()[0]


def tokens_live(user_id: int):
    return ApiToken.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()), user_id=user_id)

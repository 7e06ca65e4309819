"""Who must enrol in two-factor sign-in before doing anything else (API.md, "Two-factor")."""

from __future__ import annotations

from django.conf import settings

from kernel.accounts.tokens import is_staff_role

# What a staff user who must still enrol may reach: the two-factor endpoints and logout.
API_PATHS_OPEN_BEFORE_ENROLMENT = ("/api/v1/auth/2fa/", "/api/v1/auth/logout/")


def enrolment_required(user, *, verified: bool) -> bool:
    """With STAFF_2FA_REQUIRED on, an ops, finance or admin user who has not passed a second
    factor (a token issued or confirmed with one, a session verified by one) must enrol first."""
    return bool(settings.STAFF_2FA_REQUIRED and is_staff_role(user) and not verified)


def api_path_open_before_enrolment(path: str) -> bool:
    return path.startswith(API_PATHS_OPEN_BEFORE_ENROLMENT)

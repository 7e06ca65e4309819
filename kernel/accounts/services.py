"""Signing in (password, lockout, second factor), two-factor enrolment and unlocking.

The token endpoint, the sign-in page and the admin (which signs in through that page) all call
`sign_in_check`, so the lockout, the second factor and their audit entries exist once.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import connection, transaction
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from kernel.accounts.errors import BadCredentials, LockedOut, NotStaff, OtpInvalid, OtpRequired
from kernel.accounts.tokens import is_staff_role
from kernel.audit.models import AuditAction
from kernel.audit.services import record
from kernel.errors import InvalidInput

TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
RECOVERY_CODES = 10
_SIX_DIGITS = re.compile(r"\d{6}")


def lockout_username(username: str | None) -> str:
    """The name lockout counts under: one username however it is capitalised or padded."""
    return (username or "").strip().lower()


def axes_username(request, credentials: dict | None = None) -> str:
    """AXES_USERNAME_CALLABLE: the lockout name from the credentials (or a posted form)."""
    if credentials and credentials.get("username") is not None:
        return lockout_username(credentials["username"])
    return lockout_username(request.POST.get("username") if request is not None else None)


@dataclass
class SignIn:
    user: object
    device: object | None  # the OTP device that verified the second factor, if one did


def confirmed_totp(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def has_confirmed_device(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def otp_check(user, otp: str):
    """The device that accepts `otp`: 6 digits go to the authenticator app, anything else is tried
    as a recovery code (used up by the check). None when neither accepts it. django-otp locks the
    device row, refuses a replayed TOTP step and throttles repeated failures."""
    otp = (otp or "").strip().replace(" ", "").lower()
    if _SIX_DIGITS.fullmatch(otp):
        device = confirmed_totp(user)
    else:
        device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if device is None or not otp:
        return None
    return verify_token(user, device.persistent_id, otp)


def sign_in_check(request, *, username: str, password: str, otp: str | None = None) -> SignIn:
    """Check a username and password (and, for staff with a confirmed device, `otp`).

    Lockout (django-axes, per username): attempts for one username are serialised by a PostgreSQL
    advisory lock held while the password is checked and the failure recorded, so concurrent
    guesses cannot slip past the limit between axes' check and its count. Audited: `auth.login`,
    `auth.login_failed`, `auth.locked_out`. Raises LockedOut, BadCredentials, OtpRequired or
    OtpInvalid; the audit entries commit either way.
    """
    name = lockout_username(username)
    credentials = {"username": username}
    error: Exception | None = None
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 14))", [name])
        if AxesProxyHandler.is_locked(request, credentials):
            # authenticate() would refuse it too (axes' backend); asking it keeps axes' own records.
            authenticate(request, username=username, password=password)
            record(AuditAction.AUTH_LOCKED_OUT, request=request, username=name)
            request.lockout_refused = True  # the sign-in page answers 429 for this attempt
            error = LockedOut()
        else:
            user = authenticate(request, username=username, password=password)
            if user is None:
                record(AuditAction.AUTH_LOGIN_FAILED, request=request, username=name)
                if getattr(request, "axes_locked_out", False):
                    record(AuditAction.AUTH_LOCKED_OUT, request=request, username=name)
                error = BadCredentials()
            else:
                device = None
                if has_confirmed_device(user):
                    if not otp:
                        error = OtpRequired()
                    else:
                        device = otp_check(user, otp)
                        if device is None:
                            record(AuditAction.AUTH_2FA_FAILED, request=request, actor=user)
                            error = OtpInvalid()
                if error is None:
                    record(AuditAction.AUTH_LOGIN, request=request, actor=user)
                    return SignIn(user=user, device=device)
    assert error is not None
    raise error


# --- Two-factor enrolment --------------------------------------------------------------------


def otpauth_url(device: TOTPDevice, issuer: str = "Shiftline") -> str:
    """The Key URI Format authenticator apps read (RFC 6238 defaults: SHA1, 6 digits, 30 s)."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    label = quote(f"{issuer}:{device.user.get_username()}")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": device.digits,
                       "period": device.step})
    return f"otpauth://totp/{label}?{query}"


def device_secret(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def require_staff(user) -> None:
    if not is_staff_role(user):
        raise NotStaff()


@transaction.atomic
def totp_setup(*, user, request=None) -> TOTPDevice:
    """A new, unconfirmed TOTP device for a staff user (any earlier unconfirmed one is replaced).
    A confirmed device stays in force until the new one is confirmed."""
    require_staff(user)
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False, digits=6, step=30)
    record(AuditAction.AUTH_2FA_SETUP, request=request, actor=user, target=device)
    return device


def totp_pending_or_setup(*, user, request=None) -> TOTPDevice:
    """The enrolment page's device: the one still waiting for confirmation (a reload shows the same
    QR code), else a new one."""
    require_staff(user)
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    return pending or totp_setup(user=user, request=request)


def totp_confirm(*, user, otp: str, request=None) -> tuple[TOTPDevice, list[str]]:
    """Confirm the user's pending device with a code from it. The pending device replaces any
    earlier one and fresh recovery codes are issued (returned once). Raises OtpInvalid after
    committing the `auth.2fa_failed` entry (and the device's failure count)."""
    require_staff(user)
    with transaction.atomic():
        device = (TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False)
                  .order_by("-id").first())
        code = (otp or "").strip().replace(" ", "")
        if device is not None and _SIX_DIGITS.fullmatch(code) and device.verify_token(code):
            TOTPDevice.objects.filter(user=user, confirmed=True).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = recovery_codes_issue(user)
            record(AuditAction.AUTH_2FA_CONFIRM, request=request, actor=user, target=device)
            return device, codes
        record(AuditAction.AUTH_2FA_FAILED, request=request, actor=user)
    raise OtpInvalid("That code does not match the new device: check the app's clock and try again."
                     if device is not None else "There is no device waiting for confirmation: "
                     "start with POST /api/v1/auth/2fa/setup/.")


def recovery_codes_issue(user) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODES new ones (each works once)."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = ["-".join(re.findall("....", secrets.token_hex(6))) for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def totp_provision(*, user, secret_base32: str) -> TOTPDevice:
    """A confirmed TOTP device from a given base32 secret (`create_staff --totp-secret`)."""
    require_staff(user)
    cleaned = secret_base32.strip().replace(" ", "").upper()
    try:
        key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except ValueError as exc:
        raise InvalidInput("The TOTP secret must be base32.", fields={"totp_secret": ["Not base32."]}) from exc
    if len(key) < 10:
        raise InvalidInput("The TOTP secret must be at least 80 bits (16 base32 characters).",
                           fields={"totp_secret": ["Too short."]})
    TOTPDevice.objects.filter(user=user).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_NAME, key=key.hex(), confirmed=True, digits=6, step=30)


# --- Lockout: listing and unlocking ----------------------------------------------------------


def locked_usernames() -> list[str]:
    """Usernames locked out right now (their failures within the cool-off reach the limit)."""
    from axes.models import AccessAttempt
    from django.db.models import Sum
    from django.utils import timezone

    rows = (AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME)
            .values("username").annotate(failures=Sum("failures_since_start"))
            .filter(failures__gte=settings.AXES_FAILURE_LIMIT).order_by("username"))
    return [row["username"] for row in rows if row["username"]]


@transaction.atomic
def account_unlock(*, username: str, request=None, actor=None) -> int:
    """Forget the username's failed attempts, which lifts its lockout. Audited `auth.unlock`."""
    name = lockout_username(username)
    if not name:
        raise InvalidInput("Name the username to unlock.", fields={"username": ["This field is required."]})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 14))", [name])
    cleared = AxesProxyHandler.reset_attempts(username=name)
    record(AuditAction.AUTH_UNLOCK, request=request, actor=actor, object_type="auth.username", object_id=name,
           before={"failed_attempts_rows": cleared}, after={"locked": False})
    return cleared

"""Pages: sign-in (password, lockout, second factor), two-factor enrolment with a QR code, and the
ops page of locked usernames."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from kernel.accounts import services
from kernel.accounts.errors import BadCredentials, LockedOut, OtpInvalid, OtpRequired
from kernel.accounts.tokens import is_staff_role
from kernel.errors import DomainError

UNLOCK_ROLES = ("ops", "admin")
LOCKED_MESSAGE = LockedOut.default_detail


class SignInForm(forms.Form):
    """Username, password and, for staff with two-factor sign-in, the code. Checked by
    `services.sign_in_check`, as the token endpoint is."""

    username = forms.CharField(max_length=150)
    password = forms.CharField(strip=False, widget=forms.PasswordInput)
    otp = forms.CharField(required=False, max_length=32)

    def __init__(self, request=None, *args, **kwargs):
        self.request = request
        self.sign_in: services.SignIn | None = None
        self.locked = False
        self.otp_needed = False
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.sign_in = services.sign_in_check(self.request, username=data["username"],
                                                  password=data["password"], otp=data.get("otp"))
        except LockedOut as error:
            self.locked = True
            raise forms.ValidationError(error.detail, code="locked_out") from error
        except OtpRequired as error:
            self.otp_needed = True
            raise forms.ValidationError("Enter the 6-digit code from your authenticator app (or a recovery code).",
                                        code="otp_required") from error
        except OtpInvalid as error:
            self.otp_needed = True
            raise forms.ValidationError("That code is not valid. Try the current code from your app.",
                                        code="otp_invalid") from error
        except BadCredentials as error:
            # The page keeps Django's wording for a wrong username or password.
            raise forms.ValidationError(AuthenticationForm.error_messages["invalid_login"],
                                        code="invalid_login", params={"username": "username"}) from error
        except DomainError as error:
            raise forms.ValidationError(error.detail, code=error.code) from error
        return data

    def get_user(self):
        return self.sign_in.user if self.sign_in else None


class LoginView(auth_views.LoginView):
    template_name = "login.html"
    redirect_authenticated_user = True
    form_class = SignInForm  # type: ignore[assignment]

    def form_valid(self, form):
        sign_in = form.sign_in
        login(self.request, sign_in.user)
        if sign_in.device is not None:
            otp_login(self.request, sign_in.device)
        return redirect(self.get_success_url())

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked:
            response.status_code = 429
        return response


def locked_out_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: a sign-in refused because the username is locked is the sign-in page
    saying so (429). The failure that reached the limit was still a checked password: it keeps its
    own answer (the form's error), as the token endpoint's 400 does."""
    if original_response is not None and not getattr(request, "lockout_refused", False):
        return original_response
    form = SignInForm(request, data={"username": (credentials or {}).get("username", "")})
    form.locked = True
    return render(request, "login.html", {"form": form, "locked_message": LOCKED_MESSAGE}, status=429)


# --- Two-factor enrolment --------------------------------------------------------------------


def qr_svg(data: str) -> str:
    """The QR code of `data` as inline SVG, made here (segno), so no image leaves the server."""
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True,
                                     title="QR code of the two-factor secret", nl=False)
    return buffer.getvalue().decode()


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        return "/"
    return target


@login_required
def two_factor(request):
    """GET: a new pending device and its QR code (the secret shown too, for typing). POST: the
    code from the app confirms it; the session counts as verified and recovery codes are shown once."""
    if not is_staff_role(request.user):
        raise PermissionDenied
    next_url = _safe_next(request)
    if request.method == "POST":
        try:
            device, codes = services.totp_confirm(user=request.user, otp=request.POST.get("otp", ""), request=request)
        except OtpInvalid as error:
            messages.error(request, error.detail)
            return redirect(f"{request.path}?{urlencode({'next': next_url})}")
        otp_login(request, device)
        return render(request, "accounts/two_factor_done.html", {"codes": codes, "next": next_url})
    device = services.totp_pending_or_setup(user=request.user, request=request)
    url = services.otpauth_url(device)
    return render(request, "accounts/two_factor.html", {
        "qr": mark_safe(qr_svg(url)),  # noqa: S308  # nosec B703 B308 # segno's own SVG of our URL, no user markup
        "secret": services.device_secret(device), "next": next_url,
        "enrolled": services.has_confirmed_device(request.user),
    })


# --- Locked usernames (ops, admin) ---------------------------------------------------------------


def _require_unlocker(request) -> None:
    if getattr(request.user, "role", "") not in UNLOCK_ROLES:
        raise PermissionDenied


@login_required
def locked_accounts(request):
    _require_unlocker(request)
    return render(request, "accounts/locked.html", {"usernames": services.locked_usernames()})


@require_POST
@login_required
def locked_account_unlock(request):
    _require_unlocker(request)
    username = request.POST.get("username", "")
    try:
        services.account_unlock(username=username, request=request)
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"{services.lockout_username(username)} can sign in again.")
    return redirect("locked-accounts-page")

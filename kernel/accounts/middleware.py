"""Pages: a staff user who must enrol in two-factor sign-in is sent to the enrolment page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

from kernel.accounts.policy import enrolment_required

# Pages reachable before enrolment: the enrolment page itself, signing in and out, and what
# no user needs (static files, health). The API (/api/) decides in its authentication classes.
_OPEN_PREFIXES = ("/account/2fa/", "/login/", "/logout/", "/static/", "/healthz", "/api/")


class TwoFactorEnrolmentMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(_OPEN_PREFIXES):
            return self.get_response(request)
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated
                and enrolment_required(user, verified=user.is_verified())):
            return redirect(f"{reverse('two-factor-page')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

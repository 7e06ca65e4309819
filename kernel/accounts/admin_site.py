"""The Django admin behind the portal's sign-in (lockout, second factor) and Shiftline roles."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse


class ShiftlineAdminSite(admin.AdminSite):
    """Signing in happens only on /login/ (so /admin/login/ cannot bypass the lockout or the
    second factor), and a staff user whose session has a confirmed device but did not pass it is
    not let in. With STAFF_2FA_REQUIRED on, enrolment is required before anything (middleware)."""

    def login(self, request, extra_context=None):
        if request.user.is_authenticated:  # signed in, but not allowed here: no sign-in loop
            raise PermissionDenied
        target = request.GET.get("next") or reverse("admin:index")
        return redirect(f"{reverse('login')}?{urlencode({'next': target})}")

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        if request.user.is_verified():
            return True
        from kernel.accounts.services import has_confirmed_device

        return not settings.STAFF_2FA_REQUIRED and not has_confirmed_device(request.user)


class AdminConfig(DjangoAdminConfig):
    default_site = "kernel.accounts.admin_site.ShiftlineAdminSite"

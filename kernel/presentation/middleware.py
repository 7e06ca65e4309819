"""Pages render times in the viewer's timezone: the worker profile's, else the browser's (the `tz`
cookie `static/js/viewer-timezone.js` sets), else UTC. The API is left alone (ISO 8601 with offset)."""

from __future__ import annotations

from urllib.parse import unquote

from django.utils import timezone

from kernel.presentation.formatting import timezone_or_utc

TIMEZONE_COOKIE = "tz"


def viewer_timezone_name(request) -> str:
    """The IANA name of the zone the signed-in viewer reads times in."""
    user = getattr(request, "user", None)
    worker = getattr(user, "worker", None) if user is not None and user.is_authenticated else None
    name = getattr(worker, "timezone", "") or unquote(request.COOKIES.get(TIMEZONE_COOKIE, ""))
    return str(getattr(timezone_or_utc(name), "key", "UTC"))


class ViewerTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(("/api/", "/ws/", "/healthz", "/static/")):
            return self.get_response(request)
        timezone.activate(timezone_or_utc(viewer_timezone_name(request)))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

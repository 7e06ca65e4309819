"""OpenAPI: our session authentication class is described as DRF's (a cookie scheme)."""

from drf_spectacular.authentication import SessionScheme


class ShiftlineSessionScheme(SessionScheme):
    target_class = "kernel.drf.SessionAuthentication"

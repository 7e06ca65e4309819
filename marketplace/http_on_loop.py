"""API requests answered on the server's event loop, before Django sees them.

Every HTTP request goes to Django on a thread of the pool (`marketplace.asgi`), except those a
handler registered here takes: today only token-authenticated shift claims and releases
(`workers.api.seat_action_on_loop`), the hottest write of the marketplace. A handler answers exactly
what its Django view answers — same status, body and headers — and returns False, having sent
nothing and changed nothing, for anything it does not fully understand (another authentication, a
body, an `Accept` other than JSON, a host Django would refuse, an HTTPS redirect due, a throttled
caller, an unusual case of the service, a database it cannot reach at once), so Django then answers
as always. The handlers are installed only with the middleware and settings they were checked
against (`loop_handlers_allowed`). Measured in bench/claims.py (README "Shift claims").
"""

from __future__ import annotations

import json
from types import SimpleNamespace

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http.request import split_domain_port, validate_host

# The middleware whose effect on an API answer the handlers reproduce (`send_json`); with any other
# list, or DEBUG's browsable API, Django answers everything.
AUDITED_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Set on a request whose DRF throttles a handler already ran before leaving it to Django, so the
# view does not count it twice (marketplace.drf reads it from a2wsgi's `asgi.scope`).
THROTTLES_COUNTED = "shiftline.throttles_counted"
_JSON_ACCEPTS = {b"*/*", b"application/*", b"application/json"}


def loop_handlers_allowed() -> bool:
    return (not settings.DEBUG and list(settings.MIDDLEWARE) == AUDITED_MIDDLEWARE
            and not settings.DISALLOWED_USER_AGENTS and not settings.PREPEND_WWW
            and settings.REST_FRAMEWORK.get("DEFAULT_RENDERER_CLASSES")
            == ["rest_framework.renderers.JSONRenderer"])


class LoopRequest:
    """What a loop handler needs of an HTTP scope, with Django's host and HTTPS rules applied."""

    def __init__(self, scope: dict) -> None:
        self.scope = scope
        self.headers = dict(scope["headers"])
        # A repeated header is left to Django's parsing.
        self.has_repeated_header = len(self.headers) != len(scope["headers"])
        self.secure = self._is_secure()

    def acceptable(self) -> bool:
        """No body, a host Django accepts, and no HTTPS redirect due."""
        if self.has_repeated_header or b"transfer-encoding" in self.headers:
            return False
        if self.headers.get(b"content-length", b"0").strip() not in (b"0", b""):
            return False
        # DRF's negotiation answers 406 to some and indents for `application/json; indent=N`.
        if b"accept" in self.headers and self.headers[b"accept"].strip().lower() not in _JSON_ACCEPTS:
            return False
        if settings.USE_X_FORWARDED_HOST or not self._host_allowed():
            return False
        return self.secure or not settings.SECURE_SSL_REDIRECT

    def token_key(self) -> str | None:
        """The key of `Authorization: Token <key>`, as DRF's TokenAuthentication reads it."""
        parts = self.headers.get(b"authorization", b"").split()
        if len(parts) != 2 or parts[0].lower() != b"token":
            return None
        try:
            return parts[1].decode()
        except UnicodeDecodeError:
            return None

    def meta(self) -> dict[str, str]:
        """The few `request.META` keys DRF's throttles read (the client's address)."""
        client = self.scope.get("client") or ("", 0)
        meta = {"REMOTE_ADDR": client[0] or ""}
        forwarded = self.headers.get(b"x-forwarded-for")
        if forwarded is not None:
            meta["HTTP_X_FORWARDED_FOR"] = forwarded.decode("latin1")
        return meta

    def _host_allowed(self) -> bool:
        host = self.headers.get(b"host", b"").decode("latin1")
        domain, _port = split_domain_port(host)  # DEBUG's implicit hosts do not apply: no handlers in DEBUG
        return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)

    def _is_secure(self) -> bool:
        if settings.SECURE_PROXY_SSL_HEADER:
            meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
            header = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin1")
            value = self.headers.get(header)
            if value is not None:
                return value.decode("latin1").split(",", 1)[0].strip() == secure_value
        return self.scope.get("scheme") == "https"


async def throttles_allow(view_class, user, request: LoopRequest) -> bool:
    """Whether the view's DRF throttles let `user` through now (recording the request as they do)."""
    if not settings.RATELIMIT_ENABLE:
        return True
    drf_request = SimpleNamespace(user=user, META=request.meta())
    view = view_class()

    def allow() -> bool:
        return all(throttle.allow_request(drf_request, view) for throttle in view.get_throttles())

    allowed = await sync_to_async(allow, thread_sensitive=False)()
    if allowed:  # a refused request was not recorded: the view refuses it again, with its 429
        request.scope[THROTTLES_COUNTED] = True
    return allowed


def _security_headers(secure: bool) -> list[tuple[bytes, bytes]]:
    """The headers Django's SecurityMiddleware and XFrameOptionsMiddleware add to an API answer."""
    headers = [(b"x-frame-options", settings.X_FRAME_OPTIONS.upper().encode())]
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append((b"strict-transport-security", hsts.encode()))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        if not isinstance(policy, str):
            policy = ",".join(policy)
        headers.append((b"referrer-policy", policy.encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append((b"cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()))
    return headers


async def send_json(send, request: LoopRequest, status: int, data: dict, *, allow: str) -> None:
    """Send `data` as DRF's JSONRenderer writes it, with the headers Django would add."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"allow", allow.encode()),
               (b"content-length", str(len(body)).encode()), *_security_headers(request.secure)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""Shiftline settings, configured only by environment variables (see README, "Configuration").

PostgreSQL is the only database: DATABASE_URL is required (`make run` starts an embedded server
and sets it). Without REDIS_URL: the in-memory channel layer and a filesystem Celery transport.
"""

import hashlib
import os
from datetime import timedelta
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SHIFTLINE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Sites allowed to embed the customer chat widget (their Origin may open customer sockets).
WIDGET_ALLOWED_ORIGINS = env_list("WIDGET_ALLOWED_ORIGINS")

INSTALLED_APPS = [
    # The admin's default site is Shiftline's: behind the portal's sign-in and its second factor.
    "kernel.accounts.admin_site.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "kernel.outbox",
    "kernel.audit",
    "kernel.accounts",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    # Money and time formatting, the viewer's timezone: template tags every app's pages load.
    "kernel.presentation",
    "demo",
    "workers",
    "tickets",
    "payouts",
    "reports",
    # Dev-only (no models, no URLs): `manage.py stripe_sandbox`, the local Stripe of tests and demos.
    "stripe_sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kernel.audit.context.AuditAddressMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "kernel.accounts.middleware.TwoFactorEnrolmentMiddleware",
    "kernel.presentation.middleware.ViewerTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it turns a lockout flagged during the request into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
ASGI_APPLICATION = "marketplace.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kernel.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured(
        "DATABASE_URL must point at PostgreSQL (postgres://user:password@host:port/name); "
        "`make run` starts an embedded PostgreSQL server and sets it."
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
# HTTP requests run on a pool of threads and websocket consumers in sync_to_async threads: a
# connection pool, not persistent connections (measured: persistent connections exhausted
# PostgreSQL under load, the pool did not). Keep DATABASE_POOL_MAX above HTTP_THREADS.
if env_bool("DATABASE_POOL", True):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DATABASE_POOL_MIN", "2")),
        "max_size": int(os.environ.get("DATABASE_POOL_MAX", "20")),
        "timeout": 10,
    }
# Server-side prepared statements after a statement's 5th run on a connection (psycopg's own
# default; Django turns them off for the sake of external poolers): our pool holds its connections,
# so PostgreSQL parses and plans the hot statements once per connection (bench/chat.py: the chat
# message's statement was planned anew on every message). Behind PgBouncer in transaction mode
# without prepared-statement support, set DATABASE_PREPARE_THRESHOLD= (empty) to turn them off.
_prepare_threshold = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5")
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
    int(_prepare_threshold) if _prepare_threshold.strip() else None)
# Worker threads per server process for HTTP requests (see marketplace/asgi.py).
HTTP_THREADS = int(os.environ.get("HTTP_THREADS", "10"))
# Threads per server process that run the websocket consumers' database work. Few on purpose: a
# chat query takes well under a millisecond, and more threads only contend for the GIL (20
# threads saturated lower than 4 in bench/chat.py).
SOCKET_DB_THREADS = int(os.environ.get("SOCKET_DB_THREADS", "4"))
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_shiftline")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "workers.User"
# Django's four validators, for the apply page and the apply API alike (workers.services.accounts).
# Ten characters, not Django's default eight: "dana1234" passed all four defaults.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# axes' backend first: it refuses a locked-out username before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names once `collectstatic` has written its manifest; until then (a fresh checkout,
    # `make run`, tests) WhiteNoise serves the files straight from the apps' static folders.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if (STATIC_ROOT / "staticfiles.json").exists()
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# --- Redis: channel layer, cache, Celery broker ------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")


def _deployment_channel_prefix(database_url: str, redis_url: str) -> str:
    """A channel-layer prefix of this deployment's own: Redis Pub/Sub channels ignore the DB
    number, so two deployments on one Redis server with the same prefix hear each other's chat.
    Derived from the database's host, port and name and Redis's DB number (not SECRET_KEY, whose
    rotation must not split the processes of one deployment during a rolling restart)."""
    db, redis = urlsplit(database_url), urlsplit(redis_url)
    identity = f"{db.hostname}:{db.port}{db.path}|{redis.hostname}:{redis.port}{redis.path or '/0'}"
    return "shiftline-" + hashlib.sha256(identity.encode()).hexdigest()[:12]


# CHANNEL_LAYER_PREFIX, when set, replaces the derived prefix (the same in every process of a deployment).
CHANNEL_LAYER_PREFIX = os.environ.get("CHANNEL_LAYER_PREFIX") or _deployment_channel_prefix(DATABASE_URL, REDIS_URL)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # The PubSub layer: measured near 2,500 relayed messages/s here against ~700/s for the
            # core layer. Both are at-most-once; the database plus `after=SEQ` replay is the truth.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": CHANNEL_LAYER_PREFIX,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "shiftline"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
if not REDIS_URL:
    _celery_queue_dir = VAR_DIR / "celery-queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_queue_dir),
        "data_folder_out": str(_celery_queue_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
        # The worker looks for new task files this often when idle (kombu's default is 1 s, which
        # delays every outbox relay and payout step of `make run` by up to a second).
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# One Redis can serve several deployments (or test stacks) when each names its own queue.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Outbox events undelivered this many seconds after their commit are delivered by `outbox.redeliver`.
OUTBOX_REDELIVER_AFTER = float(os.environ.get("OUTBOX_REDELIVER_AFTER_SECONDS", "20"))
# Beat schedules live in code; each app adds its entries here (seconds or crontab).
CELERY_BEAT_SCHEDULE = {
    "outbox-redeliver": {"task": "outbox.redeliver",
                         "schedule": timedelta(seconds=float(os.environ.get("OUTBOX_REDELIVER_SECONDS", "30")))},
    "outbox-drain": {"task": "outbox.drain", "schedule": timedelta(seconds=10)},
    # Reports: ledger payouts against Stripe's transfers, kept for the finance dashboard's flag.
    "reports-reconcile-daily": {"task": "reports.reconcile_daily", "schedule": timedelta(hours=24)},
    "workers-mark-no-shows": {"task": "workers.mark_no_shows", "schedule": timedelta(seconds=60)},
    "workers-complete-ended-claims": {"task": "workers.complete_ended_claims", "schedule": timedelta(seconds=60)},
    "workers-surge": {"task": "workers.surge_rates", "schedule": timedelta(minutes=5)},
    "workers-reliability-refresh": {"task": "workers.refresh_reliability", "schedule": timedelta(hours=1)},
    "workers-template-shifts": {"task": "workers.generate_template_shifts", "schedule": timedelta(hours=1)},
    "tickets-presence-expire": {"task": "tickets.presence_expire", "schedule": timedelta(seconds=15)},
    "tickets-first-response-timeout": {"task": "tickets.first_response_timeout", "schedule": timedelta(seconds=15)},
    "tickets-abandon-stale": {"task": "tickets.abandon_stale", "schedule": timedelta(minutes=5)},
    "tickets-route": {"task": "tickets.route", "schedule": timedelta(seconds=30)},
    "tickets-purge-personal-data": {"task": "tickets.purge_personal_data", "schedule": timedelta(hours=24)},
}

# --- Django REST framework --------------------------------------------------------------------
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
# How many proxies in front of Shiftline append to X-Forwarded-For (0: the header is ignored). Rate
# limits, lockout and the audit trail all take the client address from kernel/net.py's rule.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
# The secret shared with the sites that embed the widget, to sign their customer's id
# (tickets.identity); unset, no customer identity is accepted and no earlier tickets are shown.
WIDGET_IDENTITY_SECRET = os.environ.get("WIDGET_IDENTITY_SECRET", "")
# Customers' names, emails and messages are anonymised this many days after their ticket closed.
CUSTOMER_DATA_RETENTION_DAYS = int(os.environ.get("CUSTOMER_DATA_RETENTION_DAYS", "365"))
REST_FRAMEWORK = {
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous request gets 401 with a WWW-Authenticate header.
        "kernel.drf.TokenAuthentication",
        "kernel.drf.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "kernel.drf.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "kernel.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": ["kernel.drf.JSONParser"],
    # `?format=csv` on reports is ours, not DRF's content negotiation.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_THROTTLE_CLASSES": (
        ["kernel.drf.AnonBurstThrottle", "kernel.drf.UserBurstThrottle"]
        if RATELIMIT_ENABLE
        else []
    ),
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("RATE_ANON", "120/min"),
        "user": os.environ.get("RATE_USER", "1200/min"),
        "auth_token": os.environ.get("RATE_AUTH_TOKEN", "10/min"),
        "ticket_create": os.environ.get("RATE_TICKET_CREATE", "20/min"),
        "worker_apply": os.environ.get("RATE_WORKER_APPLY", "10/hour"),
        "ticket_message": os.environ.get("RATE_TICKET_MESSAGE", "60/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Shiftline API",
    "DESCRIPTION": "Vetted remote workers answering live customer chats, paid per resolved case.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Paginated lists and the error responses of every endpoint, said once (kernel/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "kernel.schema.postprocess"],
}

# --- Stripe ----------------------------------------------------------------------------------
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "sk_test_shiftline_sandbox")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
# The defaults are the sandbox's public values: `check --deploy` fails on them in production
# (payouts/checks.py).
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_shiftline_sandbox")
# Webhook signatures older than this many seconds are refused (Stripe's own default, 5 minutes).
STRIPE_WEBHOOK_TOLERANCE = int(os.environ.get("STRIPE_WEBHOOK_TOLERANCE", "300"))

# --- Security --------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL_HEADER", False) else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_FAILURE_VIEW = "kernel.api.json_csrf_failure"
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy on every response (django-csp). Scripts only from our own origin: every
# page's JavaScript is a static file (no inline script, no handler attribute, no eval; plotly.js
# draws the dashboards without eval). Styles may be inline (the widget and plotly.js inject
# <style>; API.md constrains scripts). No `form-action`: the payout-account form redirects to
# Stripe's onboarding, and Chrome applies form-action to that redirect. The widget embeds on
# client sites as a script, so their CSP governs it there; no page of ours is framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Browser features no page of ours uses are off for us and anything we might embed.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: [] for feature in ("accelerometer", "camera", "geolocation", "gyroscope", "magnetometer",
                                "microphone", "payment", "usb", "browsing-topics")
}
SESSION_COOKIE_HTTPONLY = True

# --- Accounts: tokens, two-factor, lockout (docs/decisions.md, issue 14) --------------------------
STAFF_ROLES = ("ops", "finance", "admin")
# Ops, finance and admin users must enrol a TOTP device before anything else (API.md).
STAFF_2FA_REQUIRED = env_bool("STAFF_2FA_REQUIRED", True)
API_TOKEN_TTL_STAFF = timedelta(hours=float(os.environ.get("API_TOKEN_TTL_STAFF_HOURS", "12")))
API_TOKEN_TTL_WORKER = timedelta(days=float(os.environ.get("API_TOKEN_TTL_WORKER_DAYS", "30")))
OTP_TOTP_ISSUER = "Shiftline"
# django-axes: 5 failed passwords for one username within 15 minutes lock it for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("LOCKOUT_FAILURES", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_CALLABLE = "kernel.accounts.services.axes_username"
AXES_CLIENT_IP_CALLABLE = "kernel.net.request_client_address"
AXES_LOCKOUT_CALLABLE = "kernel.accounts.pages.locked_out_response"
# A refused attempt during the lockout does not extend it: the lock ends 15 minutes after it began.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = False
AXES_SENSITIVE_PARAMETERS = ["password", "otp", "csrfmiddlewaretoken"]
# Successful sign-ins are in the audit trail already.
AXES_DISABLE_ACCESS_LOG = True
# axes.W006 asks for the address among the lockout parameters; API.md locks per username (an
# attacker rotating addresses must not get fresh attempts). Per address, DRF's throttles limit.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# uvicorn logs every request and socket handshake with its query string: kernel.accounts (ready)
# adds a filter redacting `?token=` to these loggers, keeping the handlers uvicorn gave them
# (naming them here would drop those handlers: dictConfig replaces a named logger's handlers).
REDACT_TOKENS_IN_LOGGERS = ["uvicorn.access", "uvicorn.error"]

# --- Domain settings -------------------------------------------------------------------------
class ShiftlineSettings(TypedDict):
    DEFAULT_CONCURRENCY_CAP: int
    RELEASE_CUTOFF: timedelta
    CHECK_IN_OPENS_BEFORE: timedelta
    NO_SHOW_AFTER: timedelta
    PRESENCE_GRACE: timedelta
    PRESENCE_HEARTBEAT: timedelta
    FIRST_RESPONSE_TIMEOUT: timedelta
    REOPEN_WINDOW: timedelta
    MESSAGE_MAX_LENGTH: int
    TICKET_ABANDON_AFTER: timedelta
    OPS_LIVE_PUSH_INTERVAL: float
    OPS_LIVE_REFRESH: float
    SHIFT_START_GRACE: timedelta
    SHIFT_MIN_LENGTH: timedelta
    SHIFT_MAX_LENGTH: timedelta
    PRIORITY_HEAD_START: timedelta
    PRIORITY_MIN_RELIABILITY: int
    SURGE_WINDOW: timedelta
    SURGE_STEP: str
    SURGE_INTERVAL: timedelta
    RELIABILITY_WINDOW: timedelta
    ASSESSMENT_COOLDOWN: timedelta


SHIFTLINE: ShiftlineSettings = {
    "DEFAULT_CONCURRENCY_CAP": 3,
    "RELEASE_CUTOFF": timedelta(hours=2),
    "CHECK_IN_OPENS_BEFORE": timedelta(minutes=15),
    "NO_SHOW_AFTER": timedelta(minutes=15),
    "PRESENCE_GRACE": timedelta(seconds=int(os.environ.get("PRESENCE_GRACE_SECONDS", "60"))),
    # How often each server process refreshes `last_seen_at` of the consoles it holds (one UPDATE).
    "PRESENCE_HEARTBEAT": timedelta(seconds=float(os.environ.get("PRESENCE_HEARTBEAT_SECONDS", "20"))),
    "FIRST_RESPONSE_TIMEOUT": timedelta(
        seconds=int(os.environ.get("FIRST_RESPONSE_TIMEOUT_SECONDS", "120"))
    ),
    "REOPEN_WINDOW": timedelta(hours=72),
    "MESSAGE_MAX_LENGTH": 4000,
    # Live chat (tickets app): queued tickets whose customer is gone this long are abandoned;
    # messages a socket may send, sustained per second and in a burst.
    "TICKET_ABANDON_AFTER": timedelta(hours=int(os.environ.get("TICKET_ABANDON_AFTER_HOURS", "24"))),
    # Ops live board (/ws/ops/live/): at most one snapshot push per process per interval; each
    # socket also gets a fresh snapshot after this many quiet seconds (waits grow, SLAs lapse).
    "OPS_LIVE_PUSH_INTERVAL": float(os.environ.get("OPS_LIVE_PUSH_INTERVAL_SECONDS", "0.5")),
    "OPS_LIVE_REFRESH": float(os.environ.get("OPS_LIVE_REFRESH_SECONDS", "10")),
    # Shifts (workers app; see docs/ARCHITECTURE.md, "Shifts" and "Reliability").
    "SHIFT_START_GRACE": timedelta(minutes=5),
    "SHIFT_MIN_LENGTH": timedelta(minutes=15),
    "SHIFT_MAX_LENGTH": timedelta(hours=12),
    "PRIORITY_HEAD_START": timedelta(hours=int(os.environ.get("PRIORITY_HEAD_START_HOURS", "12"))),
    "PRIORITY_MIN_RELIABILITY": 90,
    "SURGE_WINDOW": timedelta(hours=4),
    "SURGE_STEP": "0.10",
    "SURGE_INTERVAL": timedelta(minutes=30),
    "RELIABILITY_WINDOW": timedelta(days=90),
    "ASSESSMENT_COOLDOWN": timedelta(hours=24),
}

# Consumers of domain events recorded in the outbox: topic -> handlers (dotted paths). Each
# handler takes `event_id` and `payload` (or, marked `@batch_handler`, `events`) and runs once per
# event (see marketplace/outbox).
OUTBOX_HANDLERS: dict[str, list[str]] = {
    "worker.checked_in": ["tickets.handlers.on_worker_checked_in"],
    "worker.checked_out": ["tickets.handlers.on_worker_checked_out"],
    "worker.suspended": ["tickets.handlers.on_worker_suspended"],
}

# A worker's personal data held by the apps above `workers` (workers.privacy): each app's
# exporter adds its sections to the export; each eraser runs in the deletion's transaction.
PERSONAL_DATA_EXPORTERS: list[str] = ["tickets.privacy.worker_tickets_export", "payouts.privacy.worker_money_export"]
PERSONAL_DATA_ERASERS: list[str] = ["tickets.privacy.worker_tickets_erase"]

# What a case pays at a shift's multiplier, for the shift board and My shifts: a dotted path to a
# function answering a pricer `multiplier -> (minor units, currency)`, so workers shows money
# while the rate card stays in payouts. Empty: pages show the multiplier alone.
CASE_PAY_PRICER: str = "payouts.rate_card.case_pay_pricer"

# --- Payouts (payouts app; see docs/ARCHITECTURE.md, "Payouts") --------------------------------
OUTBOX_HANDLERS.setdefault("ticket.resolved", []).append("payouts.earnings.earnings_on_tickets_resolved")
OUTBOX_HANDLERS.setdefault("ticket.rated", []).append("payouts.earnings.earning_on_ticket_rated")
OUTBOX_HANDLERS.setdefault("ticket.reopened", []).append("payouts.earnings.earning_on_ticket_reopened")
class PayoutSettings(TypedDict):
    RUN_SCHEDULE: str
    SETTLE_EVERY: timedelta
    RETRY_STUCK_EVERY: timedelta
    SEND_CONCURRENCY: int
    SEND_RATE: float
    SEND_CHUNK: int
    MAX_ATTEMPTS_PER_RUN: int
    BACKOFF_BASE: float
    BACKOFF_CAP: float
    STRIPE_TIMEOUT: float
    QUEUED_STALE_AFTER: timedelta
    RESUME_QUEUED_EVERY: timedelta


PAYOUTS: PayoutSettings = {
    # Weekly payout run: a crontab spec "minute hour day_of_week" (UTC), Monday 06:00 by default.
    "RUN_SCHEDULE": os.environ.get("PAYOUT_RUN_SCHEDULE", "0 6 mon"),
    # Earnings become available when their hold ends, to the minute: the sweep is one indexed
    # query (partial index on pending earnings) that usually finds nothing. Shorter in tests.
    "SETTLE_EVERY": timedelta(seconds=float(os.environ.get("PAYOUT_SETTLE_EVERY_SECONDS", "60"))),
    "RETRY_STUCK_EVERY": timedelta(minutes=5),
    # Transfer requests in flight at once within a run (threads doing HTTP only); 1 sends inline.
    "SEND_CONCURRENCY": int(os.environ.get("PAYOUT_SEND_CONCURRENCY", "8")),
    # Transfer requests a second at most, across the send threads: just under Stripe's live-mode
    # write limit (100/s), so a run is not slowed by 429s and their backoff. 0 = no pacing.
    "SEND_RATE": float(os.environ.get("PAYOUT_SEND_RATE", "90")),
    # Payouts marked in_transit, sent and recorded together (two commits per chunk).
    "SEND_CHUNK": int(os.environ.get("PAYOUT_SEND_CHUNK", "100")),
    # Retries of a transfer within a run on timeouts/5xx/429, with exponential backoff.
    "MAX_ATTEMPTS_PER_RUN": int(os.environ.get("PAYOUT_MAX_ATTEMPTS", "8")),
    "BACKOFF_BASE": float(os.environ.get("PAYOUT_BACKOFF_BASE", "0.2")),
    "BACKOFF_CAP": float(os.environ.get("PAYOUT_BACKOFF_CAP", "5")),
    "STRIPE_TIMEOUT": float(os.environ.get("STRIPE_TIMEOUT", "10")),
    # A run still queued this long after it was started lost its task (the broker was down at
    # commit): the `payouts-resume-queued` sweep executes it.
    "QUEUED_STALE_AFTER": timedelta(seconds=float(os.environ.get("PAYOUT_QUEUED_STALE_SECONDS", "60"))),
    "RESUME_QUEUED_EVERY": timedelta(seconds=float(os.environ.get("PAYOUT_RESUME_QUEUED_SECONDS", "60"))),
}
from celery.schedules import crontab as _crontab  # noqa: E402

CELERY_BEAT_SCHEDULE.update({
    "payouts-settle": {"task": "payouts.settle_earnings", "schedule": PAYOUTS["SETTLE_EVERY"]},
    "payouts-retry-stuck": {"task": "payouts.retry_stuck_payouts", "schedule": PAYOUTS["RETRY_STUCK_EVERY"]},
    "payouts-resume-queued": {"task": "payouts.resume_queued_runs", "schedule": PAYOUTS["RESUME_QUEUED_EVERY"]},
    "payouts-weekly-run": {
        "task": "payouts.scheduled_run",
        "schedule": _crontab(*PAYOUTS["RUN_SCHEDULE"].split()[:3]),
    },
})
if REDIS_URL:
    # How long an unacknowledged (acks_late) task waits before Redis hands it to another worker
    # after a crash; lowered in tests that kill workers.
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))

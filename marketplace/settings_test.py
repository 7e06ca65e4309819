"""Settings for the in-process test run: production settings with test-only switches.

Servers that tests start in subprocesses use `marketplace.settings` itself, with the environment
the fixtures give them (see tests/conftest.py).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-7f3c1a9e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# Off for the suite at large (as in the demo); the two-factor tests turn it on for their servers
# (`asgi_server_factory(STAFF_2FA_REQUIRED="true")`) or with override_settings.
os.environ.setdefault("STAFF_2FA_REQUIRED", "false")

from marketplace.settings import *  # noqa: E402,F403

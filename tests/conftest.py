"""Fixtures shared by every test. App-specific fixtures live in tests/<app>/conftest.py."""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from tests.factories.accounts import api_token_for
from tests.factories.workers import StaffFactory, UserFactory, WorkerFactory
from tests.servers import AsgiServer, CeleryWorker, live_processes, stop_processes_started_since

# Stripe sandbox, connected workers and earnings: payouts' fixtures, which the reports tests share.
pytest_plugins = ["tests.payouts.fixtures"]


def pytest_configure(config):
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise pytest.UsageError("The tests run on PostgreSQL: set DATABASE_URL (make test does).")
    if not settings.REDIS_URL:
        raise pytest.UsageError("The tests run with Redis: set REDIS_URL (make test does).")


@pytest.fixture(scope="session", autouse=True)
def _close_db_pool_before_teardown(django_db_setup, django_db_blocker):
    """Close psycopg's pool before pytest-django drops the test database, so no idle pooled
    connection (opened by a test's threads) holds it open."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            connection.close_pool()


@pytest.fixture(autouse=True)
def _no_leaked_processes():
    """A server or worker a failing test left running would take the next tests' tasks.
    (Processes of wider-scoped fixtures exist before this runs, so they are left alone.)"""
    before = live_processes()
    yield
    stop_processes_started_since(before)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and cached values never leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for():
    """`client_for(user)`: an API client authenticated with the user's token."""

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(user)}")
        return client

    return make


@pytest.fixture
def ops_user(db):
    return StaffFactory(role="ops")


@pytest.fixture
def finance_user(db):
    return StaffFactory(role="finance")


@pytest.fixture
def admin_user(db):
    return StaffFactory(role="admin")


@pytest.fixture
def worker(db):
    return WorkerFactory()


@pytest.fixture
def ops_client(ops_user, client_for):
    return client_for(ops_user)


@pytest.fixture
def finance_client(finance_user, client_for):
    return client_for(finance_user)


@pytest.fixture
def worker_client(worker, client_for):
    return client_for(worker.user)


@pytest.fixture
def user_factory():
    return UserFactory


@pytest.fixture
def asgi_server(transactional_db):
    """A running uvicorn serving `marketplace.asgi:application` on the test database and Redis."""
    server = AsgiServer()
    yield server
    server.stop()


@pytest.fixture
def asgi_server_factory(transactional_db):
    """Start as many ASGI server processes as a test needs (all stopped afterwards)."""
    servers: list[AsgiServer] = []

    def start(**env) -> AsgiServer:
        server = AsgiServer(**env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real `celery -A marketplace worker` against the Redis broker (tasks not eager)."""
    worker_process = CeleryWorker()
    worker_process.wait_for_log("ready.")
    yield worker_process
    worker_process.stop()


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium driven by Playwright (no browser download), one per test.

    Per test, because Playwright's sync API runs an event loop in this thread while it is open,
    which other tests' `asyncio.run` must not meet. The test's own ORM calls stay synchronous
    and safe, so Django is told to allow them for the test's duration only.
    """
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield chromium
        chromium.close()

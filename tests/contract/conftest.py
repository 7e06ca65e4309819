"""The stack an operator runs, started once per test session for the contract tests.

- `python manage.py stripe_sandbox --port P --webhook-url http://127.0.0.1:<asgi>/api/v1/payouts/stripe/webhook/`
- `uvicorn marketplace.asgi:application` (Celery not eager: tasks go through the Redis broker)
- `celery -A marketplace worker`

All three use `marketplace.settings` on the test database and Redis. Tests talk to them over HTTP
and websockets only; the test process itself only makes staff accounts (as `create_staff` does)
and, for the few states that need time to pass, moves a timestamp in the database.

`RATELIMIT_ENABLE=false` on the shared server (as API.md says acceptance runs set it); the rate
limit test starts its own server with the default.
"""

from __future__ import annotations

import sys
import time

import httpx
import pytest
from django.conf import settings as django_settings

from tests.servers import ROOT, AsgiServer, CeleryWorker, StripeSandboxProcess, free_port, server_env


class Sandbox(StripeSandboxProcess):
    def __init__(self, webhook_url: str) -> None:
        super().__init__(webhook_url, log_name="contract-stripe-sandbox")

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sandbox/reset", timeout=10).raise_for_status()

    def transfers(self) -> list[dict]:
        return httpx.get(f"{self.url}/_sandbox/transfers", timeout=10).json()["data"]


class Stack:
    def __init__(self, server: AsgiServer, sandbox: Sandbox, celery: CeleryWorker, env: dict[str, str]) -> None:
        self.server, self.sandbox, self.celery, self.env = server, sandbox, celery, env
        self.url, self.ws_url = server.url, server.ws_url

    def manage(self, *args: str, timeout: float = 60) -> str:
        """`python manage.py ...` as an operator runs it, against the same database and Stripe."""
        import subprocess

        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT,
                                env=server_env(**self.env), capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout


@pytest.fixture(scope="session")
def contract_stack(django_db_setup):
    port = free_port()
    sandbox = Sandbox(webhook_url=f"http://127.0.0.1:{port}/api/v1/payouts/stripe/webhook/")
    env = {"STRIPE_API_BASE": sandbox.url, "STRIPE_WEBHOOK_SECRET": django_settings.STRIPE_WEBHOOK_SECRET,
           "RATELIMIT_ENABLE": "false", "CELERY_TASK_ALWAYS_EAGER": "false",
           # Its own queue: this session-long worker must not take tasks other tests send to theirs.
           "CELERY_QUEUE": "contract-stack"}
    celery = server = None
    try:
        celery = CeleryWorker(**env)
        server = AsgiServer(port=port, **env)
        celery.wait_for_log("ready.", timeout=60)
        yield Stack(server, sandbox, celery, env)
    finally:
        for process in (server, celery, sandbox):
            if process is not None:
                process.stop()


@pytest.fixture
def stack(contract_stack, transactional_db):
    """The shared stack, with what `migrate` seeds put back (a transactional test's flush empties
    it) and a fresh Stripe sandbox."""
    from workers.models import Skill

    for code, name in [("general", "General questions"), ("payments", "Payments"), ("refunds", "Refunds"),
                       ("orders", "Orders"), ("account", "Account and sign-in"),
                       ("disputes", "Disputes and chargebacks")]:
        Skill.objects.get_or_create(code=code, defaults={"name": name})
    contract_stack.sandbox.reset()
    yield contract_stack
    _wait_until_quiet()


def _wait_until_quiet(timeout: float = 8) -> None:
    """Let the servers finish what the test set off (socket disconnects, Celery tasks) before the
    flush: its TRUNCATE would otherwise deadlock with their row locks."""
    from django.db import connection

    time.sleep(0.3)
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')")
            busy = cursor.fetchone()[0]
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.2:
            return
        time.sleep(0.1)

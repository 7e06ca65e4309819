"""Real processes for tests: the ASGI server (uvicorn) and a Celery worker, on the test database.

They run `marketplace.settings` exactly as an operator would, pointed at the test database and
at Redis. Data a test wants them to see must be committed (use `transactional_db`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def wait_until(predicate, timeout: float, what: str, log=None, interval: float = 0.1):
    """Poll `predicate` until it answers something true (returned), or fail after `timeout` seconds
    naming `what` (and showing `log()`, a process's output, when given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}" + (f":\n{log()}" if log is not None else ""))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the database the tests are using right now (the test database)."""
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("server processes need the PostgreSQL test database")
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def server_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "marketplace.settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CELERY_TASK_ALWAYS_EAGER": os.environ.get("CELERY_TASK_ALWAYS_EAGER", "true"),
            "STAFF_2FA_REQUIRED": "true" if settings.STAFF_2FA_REQUIRED else "false",
            "CHANNEL_LAYER_PREFIX": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "shiftline"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


_LIVE: set[Process] = set()


def live_processes() -> set[Process]:
    return set(_LIVE)


def stop_processes_started_since(before: set[Process]) -> None:
    """Stop what a test started and did not stop (a failed assertion skipped its `stop()`)."""
    for process in list(_LIVE - before):
        process.stop()


class Process:
    """A child process in its own process group, stopped (and reaped) on exit."""

    def __init__(self, args: list[str], env: dict[str, str], log_name: str) -> None:
        self.log_path = ROOT / "var" / "test-logs" / f"{log_name}-{os.getpid()}-{time.time_ns()}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _LIVE.add(self)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10) -> None:
        _LIVE.discard(self)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self._log.close()


class AsgiServer(Process):
    def __init__(self, port: int | None = None, **env_overrides: str) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        super().__init__(
            [sys.executable, "-m", "uvicorn", "marketplace.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.port), "--no-access-log", "--lifespan", "off", "--no-proxy-headers",
             "--ws", "websockets-sansio", "--ws-per-message-deflate", "false"],
            server_env(**env_overrides),
            "asgi",
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ASGI server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=10).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"ASGI server did not answer within {timeout}s:\n{self.log()}")


class CeleryWorker(Process):
    def __init__(self, *extra_args: str, **env_overrides: str) -> None:
        env_overrides.setdefault("CELERY_TASK_ALWAYS_EAGER", "false")
        super().__init__(
            [sys.executable, "-m", "celery", "-A", "marketplace", "worker", "--loglevel", "INFO",
             "--concurrency", "2", "--pool", "prefork", "--without-gossip", "--without-mingle",
             "--without-heartbeat", *extra_args],
            server_env(**env_overrides),
            "celery",
        )

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"Celery worker exited early:\n{self.log()}")
            time.sleep(0.2)
        raise RuntimeError(f"Celery worker log never showed {text!r}:\n{self.log()}")


class StripeSandboxProcess(Process):
    """`manage.py stripe_sandbox` on a free port, signing webhooks with the test settings' secret."""

    def __init__(self, webhook_url: str = "", log_name: str = "stripe-sandbox", state_file: str = "",
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
        env.update({"DJANGO_SETTINGS_MODULE": "marketplace.settings", "DEBUG": "true",
                    "SECRET_KEY": settings.SECRET_KEY, "PYTHONUNBUFFERED": "1",
                    "STRIPE_WEBHOOK_SECRET": settings.STRIPE_WEBHOOK_SECRET})
        super().__init__([sys.executable, "manage.py", "stripe_sandbox", "--port", str(self.port),
                          "--webhook-url", webhook_url, *(["--state-file", state_file] if state_file else [])],
                         env, log_name)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stripe_sandbox exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/_sandbox/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"stripe_sandbox did not start:\n{self.log()}")


class RedisServerProcess(Process):
    """A private `redis-server` on a free port (no persistence), for tests that stop and restart
    Redis without touching the shared one. `stop()` then `RedisServerProcess(port=same)` restarts it."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        super().__init__(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no"], dict(os.environ), "redis")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited early:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start:\n{self.log()}")


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (the machine's PostgreSQL 15 binaries, run as the
    `postgres` user when we are root), on a free port, so that a test can restart a server under
    a running process without touching the shared one. `copy_database(url)` loads a dump of
    another database into it (schema and committed rows), and `url` points at that copy."""

    BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))

    def __init__(self) -> None:
        # Its own directory under /tmp: pytest's tmp_path is private to root, and the server runs as postgres.
        self.directory = Path(tempfile.mkdtemp(prefix="shiftline-pg-"))
        self.port = free_port()
        self.data = self.directory / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/shiftline_private"
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "shiftline_private")

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.BIN / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, cwd=self.directory)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "server.log"), "-w", "-o",
                  f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def restart(self) -> None:
        """A fast shutdown (every connection dropped, open transactions rolled back), then start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.start()

    def stop(self) -> None:
        """Stop the server and remove its files."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def copy_database(self, source_url: str) -> None:
        dump = subprocess.run([str(self.BIN / "pg_dump"), "--no-owner", "--no-privileges", source_url],
                              check=True, capture_output=True, timeout=120).stdout
        subprocess.run([str(self.BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", self.url], input=dump, check=True,
                       capture_output=True, timeout=120)

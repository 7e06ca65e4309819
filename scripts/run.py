"""`make run`: migrate, load the demo, then serve Shiftline with its Celery worker, beat and the
local Stripe sandbox, all in the foreground. Ctrl-C stops every process.

Without DATABASE_URL / REDIS_URL: SQLite, the in-memory channel layer and a filesystem Celery
transport, so nothing but Python is needed. With them: PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def main() -> int:
    port = os.environ.get("PORT", "8000")
    sandbox_port = os.environ.get("STRIPE_SANDBOX_PORT", str(int(port) + 4111))
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    env.setdefault("DEBUG", "true")
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    env.setdefault("RATELIMIT_ENABLE", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    start_sandbox = "STRIPE_API_BASE" not in env
    env.setdefault("STRIPE_API_BASE", f"http://127.0.0.1:{sandbox_port}")
    (ROOT / "var" / "celery-queue").mkdir(parents=True, exist_ok=True)
    (ROOT / "var" / "celery-processed").mkdir(parents=True, exist_ok=True)
    (ROOT / "var" / "celery-control").mkdir(parents=True, exist_ok=True)

    def manage(*args: str) -> None:
        subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)

    print("Shiftline: migrating the database…", flush=True)
    manage("migrate", "--noinput", "-v", "0")
    print("Shiftline: loading demo data…", flush=True)
    manage("seed_demo")

    web = f"http://127.0.0.1:{port}"
    commands: list[tuple[str, list[str]]] = []
    if start_sandbox:
        commands.append(("stripe-sandbox", [PY, "manage.py", "stripe_sandbox", "--port", sandbox_port,
                                            "--webhook-url", f"{web}/api/v1/payouts/stripe/webhook/"]))
    pool = ["--pool", "solo"] if not env.get("DATABASE_URL") else ["--concurrency", "2"]
    commands += [
        ("web", [PY, "-m", "uvicorn", "marketplace.asgi:application", "--host", "127.0.0.1", "--port", port,
                 # Measured in bench/chat.py: half the memory per idle socket of the defaults.
                 "--ws", "websockets-sansio", "--ws-per-message-deflate", "false"]),
        ("worker", [PY, "-m", "celery", "-A", "marketplace", "worker", "--loglevel", "WARNING", *pool]),
        ("beat", [PY, "-m", "celery", "-A", "marketplace", "beat", "--loglevel", "WARNING"]),
    ]
    processes: list[tuple[str, subprocess.Popen]] = []
    for name, command in commands:
        processes.append((name, subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)))

    def stop_all(*_args) -> None:
        for _name, process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *a: (stop_all(), sys.exit(0)))
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{web}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        print(
            f"""
Shiftline is running at {web}
  API docs        {web}/api/v1/docs/
  Customer chat   {web}/chat/
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
        print("\nShiftline: stopping…", flush=True)
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())

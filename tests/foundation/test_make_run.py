"""`make run` from a clean copy: no DATABASE_URL, no REDIS_URL, and it serves the demo."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _clean_copy(destination: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    # The copy reuses this checkout's virtualenv rather than installing the same pins again.
    (destination / ".venv").symlink_to(ROOT / ".venv")


def test_make_run_serves_the_demo_on_sqlite_without_services(tmp_path):
    _clean_copy(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG",
                        "ALLOWED_HOSTS", "CELERY_TASK_ALWAYS_EAGER", "STRIPE_API_BASE", "SECURE_SSL_REDIRECT",
                        "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "TEST_DATABASE_NAME",
                        "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env["PORT"] = str(port)
    env["STRIPE_SANDBOX_PORT"] = str(free_port())
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["make", "run"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        health = None
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                health = httpx.get(f"{base}/healthz", timeout=5)
                if "Shiftline is running" in log_path.read_text():
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert health is not None and health.status_code == 200, log_path.read_text()
        assert health.json()["checks"] == {"database": "ok", "channel_layer": "ok", "broker": "ok"}

        token = httpx.post(f"{base}/api/v1/auth/token/", json={"username": "ops", "password": "shiftline-ops"},
                           timeout=10)
        assert token.status_code == 200, token.text
        assert token.json()["user"]["role"] == "ops"
        home = httpx.get(base, timeout=10)
        assert home.status_code == 200
        assert "Apply to work with Shiftline" in home.text
        assert (tmp_path / "db.sqlite3").exists()
        output = log_path.read_text()
        assert "ana, ben, chloe / shiftline-worker" in output
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

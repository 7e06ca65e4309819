"""`make run` from a clean copy, used as a newcomer would: no DATABASE_URL, no REDIS_URL.

It starts its own embedded PostgreSQL under var/, and on it a customer chats with the demo worker
in real browsers, the worker resolves, the customer rates, and finance runs a payout that pays.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.browser]

CUSTOMER = "Rosa Demo"
MESSAGES_EACH_WAY = 5


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


class MakeRun:
    """`make run` in a clean copy, in its own process group, with its output in a log file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "make-run.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG",
                            "ALLOWED_HOSTS", "CELERY_TASK_ALWAYS_EAGER", "STRIPE_API_BASE", "SECURE_SSL_REDIRECT",
                            "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "TEST_DATABASE_NAME",
                            "DJANGO_ALLOW_ASYNC_UNSAFE", "CHANNEL_LAYER_PREFIX", "CACHE_KEY_PREFIX",
                            "CELERY_QUEUE"}}
        env["PORT"] = str(self.port)
        env["STRIPE_SANDBOX_PORT"] = str(free_port())
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(["make", "run"], cwd=self.directory, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            if b"Shiftline is running" in self.log_path.read_bytes()[offset:]:
                return
            time.sleep(1)
        raise AssertionError(f"make run did not come up:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def database_url(self) -> str:
        match = re.search(r"embedded PostgreSQL, (postgres://\S+)", self.log())
        assert match, self.log()
        return match.group(1)

    def stop(self) -> None:
        """Ctrl-C, as in a terminal: SIGINT to make and everything in its foreground group."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            raise


def _token(base: str, username: str, password: str) -> dict:
    answer = httpx.post(f"{base}/api/v1/auth/token/", json={"username": username, "password": password}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Token {answer.json()['token']}"}


def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _postgres_processes(data_dir: Path) -> list[str]:
    listing = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if "postgres" in line and str(data_dir) in line]


@pytest.fixture
def clean_copy():
    """A clean copy of the checkout outside pytest's own temporary folder, which is private to root:
    the embedded server runs as its own system user and must reach its binaries and data."""
    directory = Path(tempfile.mkdtemp(prefix="shiftline-make-run-"))
    _clean_copy(directory)
    yield directory
    logs = ROOT / "var" / "test-logs"
    logs.mkdir(parents=True, exist_ok=True)
    if (directory / "make-run.log").exists():
        shutil.copy(directory / "make-run.log", logs / f"make-run-{time.time_ns()}.log")
    shutil.rmtree(directory, ignore_errors=True)


def test_make_run_chat_resolve_rate_and_payout_on_embedded_postgres(clean_copy, browser):
    tmp_path = clean_copy
    run = MakeRun(tmp_path)
    run.start()
    base = run.base
    try:
        health = httpx.get(f"{base}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        assert health.json()["checks"] == {"database": "ok", "channel_layer": "ok", "broker": "ok"}
        assert "ana, ben, chloe / shiftline-worker" in run.log()
        assert _postgres_processes(tmp_path / "var" / "postgres"), "no embedded PostgreSQL server is running"
        # The demo runs with DEBUG off: a wrong address gets our page, never Django's debug page.
        missing = httpx.get(f"{base}/no-such-page/", timeout=10)
        assert missing.status_code == 404
        assert "We cannot find that page" in missing.text and "URLconf" not in missing.text
        assert httpx.get(f"{base}/static/css/shiftline.css", timeout=10).status_code == 200

        # Finance: pay out as soon as a case is resolved (no hold), from one cent up.
        finance = _token(base, "finance", "shiftline-finance")
        card = httpx.get(f"{base}/api/v1/payouts/rate-card/", headers=finance, timeout=10).json()
        updated = httpx.put(f"{base}/api/v1/payouts/rate-card/", headers=finance, timeout=10, json={
            "currency": card["currency"], "base_per_case": card["base_per_case"], "csat_bonus": card["csat_bonus"],
            "hold_hours": 0, "minimum_payout": 1, "reason": "demo: pay at once"})
        assert updated.status_code == 200, updated.text

        # The worker connects a payout account through the Stripe sandbox's onboarding link.
        ana = _token(base, "ana", "shiftline-worker")
        onboarding = httpx.post(f"{base}/api/v1/workers/me/payout-account/", headers=ana, timeout=20)
        assert onboarding.status_code == 200, onboarding.text
        httpx.get(onboarding.json()["onboarding_url"], timeout=20)
        _until(lambda: httpx.get(f"{base}/api/v1/workers/me/", headers=ana, timeout=10)
               .json()["payout_account_status"] == "ready", 30, "ana's payout account to be ready")

        worker_context = browser.new_context()
        customer_context = browser.new_context(viewport={"width": 390, "height": 844})
        console = worker_context.new_page()
        console.goto(f"{base}/login/?next=/console/")
        console.get_by_label("Username").fill("ana")
        console.get_by_label("Password").fill("shiftline-worker")
        with console.expect_navigation():
            console.get_by_role("button", name="Sign in").click()
        expect(console.locator("#presence")).to_have_text("Online", timeout=15000)

        chat = customer_context.new_page()
        chat.goto(f"{base}/chat/")
        chat.get_by_label("Your name").fill(CUSTOMER)
        chat.get_by_label("Email").fill("rosa@example.com")
        chat.get_by_label("Topic").select_option("general")
        chat.get_by_label("How can we help?").fill("Customer message 1")
        chat.get_by_role("button", name="Start chat").click()
        customer_log = chat.locator(".slw-log li")
        expect(customer_log).to_have_count(1, timeout=15000)

        pane = console.locator(".chat").filter(has_text=CUSTOMER)
        expect(pane).to_have_count(1, timeout=20000)
        worker_log = pane.locator(".log li")
        expect(worker_log.first).to_contain_text("Customer message 1", timeout=10000)

        expected: list[str] = ["Customer message 1"]
        for n in range(1, MESSAGES_EACH_WAY + 1):
            pane.get_by_label("Reply").fill(f"Worker message {n}")
            pane.get_by_role("button", name="Send").click()
            expected.append(f"Worker message {n}")
            expect(customer_log.nth(len(expected) - 1)).to_contain_text(expected[-1], timeout=10000)
            if n < MESSAGES_EACH_WAY:
                chat.get_by_label("Message").fill(f"Customer message {n + 1}")
                chat.get_by_role("button", name="Send").click()
                expected.append(f"Customer message {n + 1}")
                expect(worker_log.nth(len(expected) - 1)).to_contain_text(expected[-1], timeout=10000)
        expect(chat.locator(".slw-log li.slw-pending")).to_have_count(0, timeout=10000)

        # Both sides show the ten messages, in the order they were sent.
        expect(customer_log).to_have_count(2 * MESSAGES_EACH_WAY)
        expect(worker_log).to_have_count(2 * MESSAGES_EACH_WAY)
        for index, text in enumerate(expected):
            expect(customer_log.nth(index)).to_contain_text(text)
            expect(worker_log.nth(index)).to_contain_text(text)

        pane.get_by_text("Resolve or transfer").click()
        pane.get_by_label("Resolution").fill("Explained the card decline")
        pane.get_by_role("button", name="Resolve").click()
        expect(pane).to_have_count(0, timeout=10000)

        expect(chat.get_by_text("Your case has been resolved")).to_be_visible(timeout=10000)
        chat.get_by_label("5 out of 5").check()
        chat.get_by_role("button", name="Send rating").click()
        expect(chat.get_by_text("Thanks for your rating!")).to_be_visible(timeout=10000)
        customer_context.close()
        worker_context.close()

        # The stored conversation is the same ten messages, seq 1..10 without gaps.
        # The demo's history holds resolved tickets too: this customer's is found by their address.
        tickets = httpx.get(f"{base}/api/v1/tickets/?status=resolved&email=rosa@example.com", headers=ana,
                            timeout=10).json()["results"]
        ticket = next(t for t in tickets if t["rating"] == 5)
        stored = httpx.get(f"{base}/api/v1/tickets/{ticket['id']}/messages/", headers=ana, timeout=10).json()
        stored = stored["results"] if isinstance(stored, dict) else stored
        assert [(m["seq"], m["body"]) for m in stored] == list(enumerate(expected, start=1))

        # Case pay and the 5-star bonus are earned; settlement makes them available.
        def ticket_earnings():
            rows = httpx.get(f"{base}/api/v1/payouts/earnings/", headers=ana, timeout=10).json()["results"]
            mine = [e for e in rows if e["ticket"] == ticket["id"]]
            return mine if len(mine) == 2 else None

        earnings = _until(ticket_earnings, 30, "case pay and the CSAT bonus")
        earned = sum(e["amount"] for e in earnings)
        assert earned == card["base_per_case"] + card["csat_bonus"]
        subprocess.run([str(tmp_path / ".venv" / "bin" / "python"), "manage.py", "settle_earnings"], cwd=tmp_path,
                       env={**os.environ, "DATABASE_URL": run.database_url(), "DEBUG": "true",
                            "DJANGO_SETTINGS_MODULE": "marketplace.settings"} | {"REDIS_URL": ""},
                       check=True, capture_output=True)
        balance = httpx.get(f"{base}/api/v1/payouts/balance/", headers=ana, timeout=10).json()
        assert balance["available"] >= earned

        started = httpx.post(f"{base}/api/v1/payouts/runs/", headers=finance, timeout=10)
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        finished = _until(lambda: (r := httpx.get(f"{base}/api/v1/payouts/runs/{run_id}/", headers=finance,
                                                  timeout=10).json())["status"] in ("completed", "failed") and r,
                          90, "the payout run to finish")
        assert finished["status"] == "completed", finished
        assert finished["payouts_count"] >= 1
        payouts = httpx.get(f"{base}/api/v1/payouts/", headers=ana, timeout=10).json()["results"]
        paid = [p for p in payouts if p["run"] == run_id]
        assert len(paid) == 1 and paid[0]["status"] == "paid" and paid[0]["stripe_transfer_id"], payouts
        assert paid[0]["amount"] == balance["available"]
        assert httpx.get(f"{base}/api/v1/payouts/balance/", headers=ana, timeout=10).json()["available"] == 0
    finally:
        run.stop()
    assert "Shiftline: stopping the embedded PostgreSQL server" in run.log(), run.log()[-4000:]
    assert "Traceback" not in run.log(), run.log()[-4000:]
    assert _postgres_processes(tmp_path / "var" / "postgres") == [], "Ctrl-C left PostgreSQL running"

    # A second `make run` reuses the data: the conversation is still there.
    run.start()
    try:
        ana = _token(run.base, "ana", "shiftline-worker")
        stored = httpx.get(f"{run.base}/api/v1/tickets/{ticket['id']}/messages/", headers=ana, timeout=10).json()
        stored = stored["results"] if isinstance(stored, dict) else stored
        assert len(stored) == 2 * MESSAGES_EACH_WAY
    finally:
        run.stop()

"""Without REDIS_URL, Celery runs on kombu's filesystem transport under var/ (`make run`).

Tasks sent by several processes at once, before the worker starts and while it restarts, each run
exactly once: none lost, none doubled.
"""

import subprocess
import sys
import time

import pytest

from tests.servers import ROOT, CeleryWorker, server_env

pytestmark = pytest.mark.slow

SENDERS = 3
TASKS_PER_BATCH = 60


def _send(env: dict[str, str], prefix: str) -> subprocess.Popen:
    code = (
        "import django; django.setup()\n"
        "from tests.celery_probe import probe_record\n"
        f"for n in range({TASKS_PER_BATCH}): probe_record.delay('{prefix}-' + str(n))\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)


def _send_concurrently(env: dict[str, str], batch: str) -> list[str]:
    senders = [_send(env, f"{batch}{index}") for index in range(SENDERS)]
    for sender in senders:
        assert sender.wait(120) == 0
    return [f"{batch}{index}-{n}" for index in range(SENDERS) for n in range(TASKS_PER_BATCH)]


def _warm_shutdown(worker: CeleryWorker) -> None:
    """SIGTERM to the worker's main process only, as `make run` stops it: running tasks finish and
    are acknowledged, tasks it had reserved go back to the queue."""
    worker.proc.terminate()
    worker.proc.wait(60)
    worker.stop()


def _recorded(probe_file) -> list[str]:
    return probe_file.read_text().split() if probe_file.exists() else []


def _wait_for_count(probe_file, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_recorded(probe_file)) < count:
        time.sleep(0.2)


def test_filesystem_transport_runs_each_task_once_across_senders_and_a_worker_restart(tmp_path):
    probe_file = tmp_path / "executed.txt"
    overrides = {"REDIS_URL": "", "SHIFTLINE_VAR_DIR": str(tmp_path / "var"), "PROBE_FILE": str(probe_file),
                 "CELERY_TASK_ALWAYS_EAGER": "false", "DJANGO_SETTINGS_MODULE": "marketplace.settings"}
    env = server_env(**overrides)
    for folder in ("celery-queue", "celery-processed", "celery-control"):
        (tmp_path / "var" / folder).mkdir(parents=True)

    expected = _send_concurrently(env, "before")  # queued while no worker runs
    worker = CeleryWorker("--include", "tests.celery_probe", **overrides)
    expected += _send_concurrently(env, "during")
    _wait_for_count(probe_file, len(expected) // 2)
    _warm_shutdown(worker)  # in the middle of the work

    expected += _send_concurrently(env, "restart")
    worker = CeleryWorker("--include", "tests.celery_probe", **overrides)
    _wait_for_count(probe_file, len(expected))
    time.sleep(2)  # a doubled delivery would show up now
    _warm_shutdown(worker)

    recorded = _recorded(probe_file)
    assert sorted(recorded) == sorted(expected)

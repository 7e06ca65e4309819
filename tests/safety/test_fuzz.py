"""Schemathesis against the live schema (`/api/v1/schema/`) of a real server in production mode, once
per role: examples, coverage (boundary and negative values), fuzzing and stateful sequences, with
every check but two. Zero 5xx and zero responses that break the schema.

Left out: `positive_data_acceptance` expects every request the schema allows to succeed, but rules
no schema states (a topic from the catalogue, a unique username, a state that allows the action)
rightly answer 400/409 to schema-valid bodies; `negative_data_rejection` expects every request the
schema forbids to fail, but DRF's fields deliberately coerce (a number where text is declared,
`"5"` for an integer, `"true"` for a boolean), so a 200 there is DRF's documented leniency, not a
wrong answer. Both still run their requests: a 5xx or a response off the schema fails the test.

The server runs with `RATELIMIT_ENABLE=false` (the fuzzer would otherwise mostly meet 429s) and
`STAFF_2FA_REQUIRED=false` (staff authenticate with an API token only). Bounded by
`FUZZ_MAX_EXAMPLES` cases per operation and phase (default 12) and `FUZZ_MAX_SECONDS` per role
(default 40), so the whole run takes a few minutes; raise both for a deeper run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests.factories.tickets import TicketFactory, on_shift_worker
from tests.factories.workers import StaffFactory, WorkerFactory
from tests.servers import AsgiServer

pytestmark = [pytest.mark.slow]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "12"))
MAX_SECONDS = int(os.environ.get("FUZZ_MAX_SECONDS", "40"))
ROLES = ["anonymous", "customer", "worker", "ops", "finance", "admin"]
# What a fuzzer must not do to the server it tests: start payout runs that pay real (sandbox) money
# is fine; rotating the caller's own credentials would end the run's authentication.
EXCLUDE_OPERATIONS: list[str] = []


def token_for(user) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


@pytest.fixture
def fuzz_server(transactional_db, _sandbox_process):
    server = AsgiServer(RATELIMIT_ENABLE="false", STAFF_2FA_REQUIRED="false",
                        STRIPE_API_BASE=_sandbox_process.url)
    yield server
    server.stop()


def headers_for(role: str) -> list[str]:
    if role == "anonymous":
        return []
    if role == "customer":
        return [f"X-Ticket-Token: {TicketFactory().token}"]
    if role == "worker":
        worker = on_shift_worker(connected=False)
        TicketFactory(status="assigned", assigned_worker=worker, assigned_claim=worker.claim)
        return [f"Authorization: Token {token_for(worker.user)}"]
    return [f"Authorization: Token {token_for(StaffFactory(role=role))}"]


@pytest.mark.parametrize("role", ROLES)
def test_fuzzing_finds_no_server_error_and_no_response_outside_the_schema(fuzz_server, role, tmp_path):
    WorkerFactory(status="applied")
    TicketFactory()
    report = tmp_path / "report.json"
    command = [
        str(Path(sys.executable).parent / "st"), "run", f"{fuzz_server.url}/api/v1/schema/",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance,negative_data_rejection",
        "--mode", "all", "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_SECONDS),
        # One worker: Python 3.11's AST constructor is not thread-safe, and Hypothesis parses lambdas
        # while it draws ("AST constructor recursion depth mismatch" with two).
        "--workers", "1",
        "--seed", os.environ.get("FUZZ_SEED", "14"), "--no-shrink", "--generation-database", "none",
        "--request-timeout", "20", "--no-color", "--output-truncate", "false",
        "--report", "json", "--report-json-path", str(report),
    ]
    for header in headers_for(role):
        command += ["-H", header]
    for operation in EXCLUDE_OPERATIONS:
        command += ["--exclude-operation-id", operation]
    # In the test's own directory: schemathesis keeps a cache of crashes where it runs.
    result = subprocess.run(command, capture_output=True, text=True, timeout=MAX_SECONDS * 4 + 120, cwd=tmp_path)
    log = Path(fuzz_server.log_path).with_name(f"schemathesis-{role}-{os.getpid()}.log")
    log.write_text(result.stdout + result.stderr)
    print(f"{role}: {cases_line(result.stdout)} (full output: {log})")
    assert result.returncode == 0, failures_part(result.stdout)


def cases_line(output: str) -> str:
    lines = output.splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip() == "Test cases:"), None)
    return lines[at + 1].strip() if at is not None and at + 1 < len(lines) else "no summary"


def failures_part(output: str, limit: int = 12000) -> str:
    start = output.find("FAILURES")
    return output[start:start + limit] if start >= 0 else output[-limit:]

"""Request path benchmark: server CPU per request of ordinary endpoints, against a JSON 404.

    python bench/request_path.py                 # defaults, about two minutes
    python bench/request_path.py --duration 10 --clients 8

Starts uvicorn (`marketplace.asgi:application`, one process per server) in production mode (DEBUG=false) on a
dedicated PostgreSQL database (`<DATABASE_URL name>_bench_requests`, migrated and emptied at start)
with Redis, rate limits ON (rates no client reaches, so every request is counted by the limiter),
makes approved workers with API tokens and 20 shifts they may claim, and drives each phase with
`--clients` keep-alive HTTP/1.1 clients (each a worker with its own token):

- 404: anonymous `GET /api/v1/no-such-endpoint/` (Django's JSON 404), the unit of every line;
- me: `GET /api/v1/workers/me/` with a token;
- claim+release: `POST /api/v1/shifts/{id}/claim/` then `.../release/` (figures per request);
- shifts: `GET /api/v1/shifts/?available=true`, which answers 20 shifts.

The server process's CPU time (user + system, from /proc) is divided by the requests answered. A
second server with rate limits OFF runs every phase too. Phases of both servers are interleaved
over `--rounds` rounds, so that other load on the machine falls on every line alike. Each line shows
its target and whether it was met.

The limiter's own cost is measured directly: this process runs DRF's throttle check of a token
request (the configured throttle classes, instantiated per request as DRF does, counting in the
same Redis) `--limiter-calls` times, and its CPU time per check is divided by the 404's server CPU
(limits off, so the unit has no limiter in it). The same figure taken between the two servers
(`me` on minus `me` off) is printed beside it as a cross-check; it is a difference of two noisy
measurements in two processes (two servers answering the same 404 differ by up to 30% on a busy
machine), so it is not the figure the target is held to.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import Connection, Server, bench_database_url, ensure_database, server_env  # noqa: E402

# This file's directory is first on sys.path and this file is named like the `requests` library,
# which Django's apps (Stripe's SDK) may import: take the directory off again.
sys.path = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

TARGETS = {"me": 2.5, "claim+release": 3.0, "shifts": 5.0, "limiter": 0.5}
SHIFTS_LISTED = 20


def prepare_data(workers: int) -> dict:
    """Empty the bench database's people and shifts; make approved workers with tokens and shifts."""
    import binascii

    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from kernel.accounts.models import ApiToken
    from kernel.accounts.tokens import token_digest
    from workers.models import Shift, User, Worker, WorkerLanguage

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE workers_user, workers_shift, outbox_outboxevent RESTART IDENTITY CASCADE")
    start = timezone.now().replace(microsecond=0) + dt.timedelta(hours=6)
    users = User.objects.bulk_create([User(username=f"bench-r{i}", role="worker", password="!")
                                      for i in range(workers)])
    people = Worker.objects.bulk_create([Worker(user=u, full_name=f"Bench {u.pk}", country="PT", timezone="UTC",
                                                status="approved") for u in users])
    WorkerLanguage.objects.bulk_create([WorkerLanguage(worker=w, language="en") for w in people])
    keys = [binascii.hexlify(os.urandom(20)).decode() for _ in users]
    ApiToken.objects.bulk_create([ApiToken(digest=token_digest(k), user=u) for k, u in zip(keys, users, strict=True)])
    shifts = Shift.objects.bulk_create([
        Shift(starts_at=start + dt.timedelta(hours=3 * i), ends_at=start + dt.timedelta(hours=3 * i + 2),
              capacity=1000, language="en") for i in range(SHIFTS_LISTED)])
    return {"tokens": keys, "shifts": [s.pk for s in shifts]}


async def _client(port: int, token: str | None, paths, deadline: float, counts: dict[int, int]) -> None:
    connection = Connection(port, token)
    try:
        while time.monotonic() < deadline:
            for method, path in paths:
                status = await connection.post(path, method=method)
                counts[status] = counts.get(status, 0) + 1
    finally:
        connection.close()


async def _phase(port: int, tokens: list[str | None], paths_for, duration: float, counts: dict[int, int]) -> None:
    deadline = time.monotonic() + duration
    await asyncio.gather(*(_client(port, token, paths_for(i), deadline, counts) for i, token in enumerate(tokens)))


def phases_for(tokens: list[str], shifts: list[int]) -> dict:
    """name -> (the clients' tokens, each client's request loop)."""
    anonymous: list[str | None] = [None] * len(tokens)
    phases = {"404": (anonymous, lambda i: [("GET", "/api/v1/no-such-endpoint/")]),
              "me": (tokens, lambda i: [("GET", "/api/v1/workers/me/")])}
    phases["claim+release"] = (tokens, lambda i: [("POST", f"/api/v1/shifts/{shifts[i % len(shifts)]}/claim/"),
                                                  ("POST", f"/api/v1/shifts/{shifts[i % len(shifts)]}/release/")])
    phases["shifts"] = (tokens, lambda i: [("GET", "/api/v1/shifts/?available=true")])
    return phases


def measure(servers: dict, phases: dict, duration: float, rounds: int) -> dict:
    """Every phase on every server, interleaved over `rounds` rounds so that other load on the
    machine falls on all of them alike: {(server, phase): {cpu_ms, rps, answers}}."""
    totals: dict = {}
    for _ in range(rounds):
        for label, server in servers.items():
            for name, (tokens, paths_for) in phases[label].items():
                entry = totals.setdefault((label, name), {"cpu": 0.0, "seconds": 0.0, "answers": {}})
                cpu_before, began = server.cpu_seconds(), time.monotonic()
                asyncio.run(_phase(server.port, tokens, paths_for, duration / rounds, entry["answers"]))
                entry["seconds"] += time.monotonic() - began
                entry["cpu"] += server.cpu_seconds() - cpu_before
    results = {}
    for key, entry in totals.items():
        requests = sum(entry["answers"].values())
        results[key] = {"cpu_ms": entry["cpu"] / max(requests, 1) * 1000, "rps": requests / entry["seconds"],
                        "answers": dict(sorted(entry["answers"].items()))}
    return results


def limiter_cpu_ms(username: str, calls: int) -> float:
    """CPU milliseconds per throttle check of a signed-in request, as DRF's `APIView.check_throttles`
    makes it: each configured throttle class instantiated and asked `allow_request`."""
    from django.test import RequestFactory
    from rest_framework.request import Request
    from rest_framework.views import APIView

    from workers.models import User

    request = Request(RequestFactory().get("/api/v1/workers/me/", REMOTE_ADDR="127.0.0.1"))
    request.user = User.objects.get(username=username)
    view = APIView()
    throttle_classes = view.throttle_classes  # the configured defaults, as every view has them
    assert throttle_classes, "rate limits must be on for this measurement"
    for _ in range(200):  # connect and load the script first
        assert all(throttle().allow_request(request, view) for throttle in throttle_classes)
    began = time.process_time()
    for _ in range(calls):
        for throttle in throttle_classes:
            if not throttle().allow_request(request, view):
                raise RuntimeError("throttled: the bench rate must be out of reach")
    return (time.process_time() - began) / calls * 1000


def line(name: str, result: dict, unit: float) -> str:
    ratio = result["cpu_ms"] / unit
    text = (f"{name:<14} {result['rps']:7.0f} req/s  server CPU {result['cpu_ms']:5.2f} ms/req  "
            f"{ratio:5.2f}× the 404  answers {result['answers']}")
    if name in TARGETS:
        text += f"   target ≤ {TARGETS[name]}×: {'met' if ratio <= TARGETS[name] else 'NOT met'}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=9.0, help="seconds per line")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limiter-calls", type=int, default=20000)
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shiftline")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    database_url = bench_database_url(base, "requests")
    ensure_database(database_url)
    limits_on = server_env(database_url, redis_url, "benchrequests")
    limits_on.update({"RATELIMIT_ENABLE": "true", "RATE_USER": "100000000/min", "RATE_ANON": "100000000/min"})
    limits_off = {**limits_on, "RATELIMIT_ENABLE": "false"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=limits_on,
                   check=True)
    os.environ.update({k: limits_on[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY",
                                                 "DEBUG", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "RATELIMIT_ENABLE",
                                                 "RATE_USER", "RATE_ANON", "CACHE_KEY_PREFIX")
                       if k in limits_on})
    os.environ["DATABASE_POOL"] = "false"
    data = prepare_data(args.clients)
    tokens, shifts = data["tokens"], data["shifts"]
    print(f"bench/request_path.py: uvicorn (1 process each) on PostgreSQL + Redis, production mode, {args.clients} "
          f"keep-alive clients, {args.duration:.0f} s per line in {args.rounds} interleaved rounds", flush=True)
    servers = {"on": Server(["marketplace.asgi:application"], limits_on),
               "off": Server(["marketplace.asgi:application"], limits_off)}
    # Both servers run every phase, so that neither carries more state (connections, caches) than the other.
    phases = {"on": phases_for(tokens, shifts), "off": phases_for(tokens, shifts)}
    try:
        measure(servers, phases, 2.0 * len(servers), 1)  # warm up every path
        results = measure(servers, phases, args.duration, args.rounds)
        limiter_ms = limiter_cpu_ms("bench-r0", args.limiter_calls)
    finally:
        for server in servers.values():
            server.stop()
    failures = 0
    for label in servers:
        unit = results[(label, "404")]["cpu_ms"]
        print(f"-- rate limits {label}", flush=True)
        for name in phases[label]:
            result = results[(label, name)]
            print(line(name, result, unit), flush=True)
            failures += sum(n for status, n in result["answers"].items() if status >= 500 or status == 429)
    unit = results[("off", "404")]["cpu_ms"]
    cost = limiter_ms / unit
    print(f"{'limiter':<14} {limiter_ms:5.3f} ms CPU per check  {cost:5.2f}× the 404 (limits off)   "
          f"target ≤ {TARGETS['limiter']}×: {'met' if cost <= TARGETS['limiter'] else 'NOT met'}", flush=True)
    between = (results[("on", "me")]["cpu_ms"] - results[("off", "me")]["cpu_ms"]) / unit
    print(f"{'  cross-check':<14} {between:5.2f}× the 404: me on minus me off, between two servers (noisy)",
          flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

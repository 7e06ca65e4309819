"""Live chat benchmark: Shiftline's sockets against a bare Channels relay on the same Redis layer.

    python bench/chat.py                       # defaults, about 2 minutes
    python bench/chat.py --conversations 1000 --rate 300 --duration 60 --idle 5000 --reconnect
                                               # the issue's full-size targets

Starts N uvicorn processes (`marketplace.asgi:application`) on a dedicated PostgreSQL database
(`<DATABASE_URL name>_bench_chat`, migrated and emptied at start) and the Redis layer, opens C customer
sockets and W worker sockets (customer and worker of one conversation on different servers), sends
messages at a set total rate for the given time, half from customers, half from workers, and
measures send → the other side receives: latency p50/p95/p99, delivered messages/s, lost,
duplicated and out-of-order counts, and the servers' CPU time per delivered message. A saturation
phase then finds the peak: closed-loop steps of more and more concurrent conversations (each sends
its next message once the previous arrived), and the saturation throughput is the best delivered
rate of a step that lost, doubled and reordered nothing.
The same two phases run against a bare relay (a Channels consumer that only relays through the
same Redis PubSub layer, no database) — the ceiling of this stack here — and Shiftline's
saturation is printed as a ratio of it. Optional: --idle N measures server memory per idle
socket; --reconnect drops every socket at once and times until all have resumed with after=SEQ.

Tickets are created directly in the database already assigned (one routing pass per ticket is not
what this measures). Rate limits are lifted (RATELIMIT_ENABLE=false), as for load tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import Server, bench_database_url, ensure_database, server_env  # noqa: E402

TARGETS = {"p95_ms": 50, "p99_ms": 300, "ratio": 0.5, "idle_kib": 64, "reconnect_s": 10}


# --- The bare relay (run by uvicorn in its own process: `--factory chat:relay_application`) -----

def relay_application():
    """A Channels consumer that only relays frames to its room through the channel layer Shiftline
    runs: the bench passes Shiftline's own `CHANNEL_LAYERS["default"]` (class and config, with
    another prefix) in `RELAY_CHANNEL_LAYER`."""
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["channels"], SECRET_KEY="bench",
        CHANNEL_LAYERS={"default": json.loads(os.environ["RELAY_CHANNEL_LAYER"])},
    )
    django.setup()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import URLRouter
    from django.urls import re_path

    class RelayConsumer(AsyncWebsocketConsumer):
        async def connect(self):
            self.group = "relay." + self.scope["url_route"]["kwargs"]["room"]
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.accept()

        async def disconnect(self, code):
            await self.channel_layer.group_discard(self.group, self.channel_name)

        async def receive(self, text_data=None, bytes_data=None):
            await self.channel_layer.group_send(self.group, {"type": "relay.frame", "text": text_data})

        async def relay_frame(self, event):
            await self.send(text_data=event["text"])

    return URLRouter([re_path(r"^relay/(?P<room>[0-9]+)/$", RelayConsumer.as_asgi())])


def relay_channel_layer() -> str:
    """Shiftline's channel layer as the servers configure it (same class, same config), under the
    relay's own prefix, as JSON."""
    from django.conf import settings

    layer = json.loads(json.dumps(settings.CHANNEL_LAYERS["default"]))
    layer.setdefault("CONFIG", {})["prefix"] = "benchrelay"
    return json.dumps(layer)


# --- Processes and data ------------------------------------------------------------------------


def prepare_data(conversations: int, workers: int) -> list[dict]:
    """Empty the bench database's people and tickets, then make W checked-in workers and C
    assigned tickets. Returns one dict per conversation."""
    import binascii
    import datetime as dt
    import hashlib
    import math
    import secrets

    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from kernel.accounts.models import ApiToken
    from kernel.accounts.tokens import token_digest
    from tickets.models import Ticket
    from workers.models import Shift, ShiftClaim, ShiftSeat, User, Worker, WorkerLanguage

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE workers_user, workers_shift, tickets_ticket, outbox_outboxevent "
                       "RESTART IDENTITY CASCADE")
    now = timezone.now()
    cap = max(1, math.ceil(conversations / workers))
    users = User.objects.bulk_create([User(username=f"bench-w{i}", role="worker", password="!")
                                      for i in range(workers)])
    people = Worker.objects.bulk_create([Worker(user=u, full_name=f"Bench {u.pk}", country="PT", timezone="UTC",
                                                status="approved", concurrency_cap=min(cap, 20)) for u in users])
    WorkerLanguage.objects.bulk_create([WorkerLanguage(worker=w, language="en") for w in people])
    Worker.skills.through.objects.bulk_create([Worker.skills.through(worker_id=w.pk, skill_id="general")
                                               for w in people])
    claims = []
    for start in range(0, workers, 1000):
        chunk = people[start:start + 1000]
        shift = Shift.objects.create(starts_at=now - dt.timedelta(minutes=10), ends_at=now + dt.timedelta(hours=3),
                                     capacity=len(chunk), language="en")
        seats = list(ShiftSeat.objects.filter(shift=shift).order_by("pk"))
        with transaction.atomic():  # each claim and its seat name each other (checked at commit)
            made = ShiftClaim.objects.bulk_create([
                ShiftClaim(shift=shift, worker=w, rate_multiplier=1, starts_at=shift.starts_at, ends_at=shift.ends_at,
                           checked_in_at=now, seat=seat) for w, seat in zip(chunk, seats, strict=True)])
            for claim, seat in zip(made, seats, strict=True):
                seat.claim = claim
            ShiftSeat.objects.bulk_update(seats, ["claim"])
        claims += made
    keys = [binascii.hexlify(os.urandom(20)).decode() for _ in users]
    ApiToken.objects.bulk_create([ApiToken(digest=token_digest(k), user=u) for k, u in zip(keys, users, strict=True)])
    rows = []
    for i in range(conversations):
        w = i % workers
        rows.append({"token": secrets.token_urlsafe(24), "worker": w, "worker_token": keys[w],
                     "claim": claims[w].pk, "worker_id": people[w].pk})
    tickets = Ticket.objects.bulk_create([
        Ticket(token_hash=hashlib.sha256(r["token"].encode()).hexdigest(), customer_name=f"C{i}",
               customer_email=f"c{i}@bench.example", language="en", topic_id="general", status="assigned",
               assigned_worker_id=r["worker_id"], assigned_claim_id=r["claim"], assigned_at=now, queued_at=now,
               first_response_at=now) for i, r in enumerate(rows)])
    for r, t in zip(rows, tickets, strict=True):
        r["ticket"] = t.pk
    connection.close()
    return rows


# --- Measurement -------------------------------------------------------------------------------


@dataclass
class Stats:
    sent: dict = field(default_factory=dict)           # client_id -> (t_send, conversation, side)
    received: dict = field(default_factory=dict)       # (client_id, receiving side) -> count
    latencies: list = field(default_factory=list)
    last_k: dict = field(default_factory=dict)         # (conversation, receiving side) -> last k seen
    last_seq: dict = field(default_factory=dict)       # (conversation, receiving side) -> last seq seen
    out_of_order: int = 0
    duplicated: int = 0
    errors: int = 0
    delivered_at: list = field(default_factory=list)
    acked: dict = field(default_factory=dict)          # client_id -> t
    waiters: dict = field(default_factory=dict)        # (client_id, receiving side) -> future (closed loop)

    def on_frame(self, conv: int, side: str, event: dict) -> None:
        if event.get("type") == "error":
            self.errors += 1
            return
        if event.get("type") != "message":
            return
        client_id = event.get("client_id") or ""
        info = self.sent.get(client_id)
        if info is None:
            return
        now = time.perf_counter()
        if info[2] == side:
            self.acked.setdefault(client_id, now)
            return
        key = (client_id, side)
        count = self.received.get(key, 0) + 1
        self.received[key] = count
        waiter = self.waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if count > 1:
            self.duplicated += 1
            return
        self.latencies.append(now - info[0])
        self.delivered_at.append(now)
        k = int(client_id.rsplit("-", 1)[1])
        order_key = (conv, side)
        seq = event.get("seq")
        if seq is not None:
            if seq <= self.last_seq.get(order_key, 0):
                self.out_of_order += 1
            self.last_seq[order_key] = seq
        if k <= self.last_k.get((order_key, info[2]), -1):
            self.out_of_order += 1
        self.last_k[(order_key, info[2])] = k

    def lost(self) -> int:
        return sum(1 for cid, info in self.sent.items()
                   if (cid, "worker" if info[2] == "customer" else "customer") not in self.received)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] * 1000


class Load:
    def __init__(self, mode: str, rows: list[dict], servers: list[Server]) -> None:
        self.mode, self.rows, self.servers = mode, rows, servers
        self.sockets: dict[tuple[int, str], ClientConnection] = {}
        self.readers: list[asyncio.Task] = []
        self.stats = Stats()
        self.counter = 0

    def uri(self, i: int, side: str, after: int | None = None) -> str:
        n = len(self.servers)
        server = self.servers[i % n] if side == "customer" else self.servers[(i + 1) % n]
        base = f"ws://127.0.0.1:{server.port}"
        row = self.rows[i]
        if self.mode == "relay":
            return f"{base}/relay/{i}/"
        if side == "customer":
            suffix = f"&after={after}" if after is not None else ""
            return f"{base}/ws/tickets/{row['ticket']}/?token={row['token']}{suffix}"
        return f"{base}/ws/agent/?token={row['worker_token']}"

    async def open(self, i: int, side: str, after: int | None = None) -> None:
        from websockets.asyncio.client import connect

        if self.mode == "shiftline" and side == "worker" and i >= len({r["worker"] for r in self.rows}):
            return  # worker sockets are one per worker; conversations share them round-robin
        ws = await connect(self.uri(i, side, after), open_timeout=60, max_queue=None, ping_interval=None)
        self.sockets[(i, side)] = ws
        self.readers.append(asyncio.create_task(self.read(i, side, ws)))

    async def read(self, i: int, side: str, ws) -> None:
        try:
            async for raw in ws:
                event = json.loads(raw)
                if side == "worker" and self.mode == "shiftline":
                    ticket = event.get("ticket")
                    conv = self.ticket_conv.get(ticket, i) if isinstance(ticket, int) else i
                    self.stats.on_frame(conv, side, event)
                else:
                    self.stats.on_frame(i, side, event)
        except Exception:
            pass

    async def open_all(self) -> float:
        self.ticket_conv = {r["ticket"]: i for i, r in enumerate(self.rows)}
        started = time.perf_counter()
        sem = asyncio.Semaphore(100)

        async def one(i, side):
            async with sem:
                await self.open(i, side)

        await asyncio.gather(*(one(i, s) for i in range(len(self.rows)) for s in ("worker", "customer")))
        await asyncio.sleep(1)
        return time.perf_counter() - started

    def worker_socket(self, i: int) -> ClientConnection:
        if self.mode == "relay":
            return self.sockets[(i, "worker")]
        return self.sockets[(self.rows[i]["worker"], "worker")]

    async def send(self, i: int, side: str, waiter: asyncio.Future | None = None) -> str:
        """Send the next message of conversation `i` from `side`; `waiter` resolves on arrival."""
        self.counter += 1
        client_id = f"{side[0]}{i}-{self.counter}"
        if waiter is not None:
            self.stats.waiters[(client_id, "worker" if side == "customer" else "customer")] = waiter
        body = f"bench message {self.counter} from {side}"
        frame: dict[str, str | int] = {"type": "message", "body": body, "client_id": client_id}
        if self.mode == "relay":
            frame.update({"ticket": i, "sender": side})
            ws = self.sockets[(i, "customer")] if side == "customer" else self.worker_socket(i)
        elif side == "customer":
            ws = self.sockets[(i, "customer")]
        else:
            frame["ticket"] = self.rows[i]["ticket"]
            ws = self.worker_socket(i)
        self.stats.sent[client_id] = (time.perf_counter(), i, side)
        await ws.send(json.dumps(frame))
        return client_id

    async def steady(self, rate: float, duration: float) -> None:
        start = time.perf_counter()
        sent = 0
        n = len(self.rows)
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= duration:
                break
            target = int(rate * elapsed)
            while sent < target:
                i = sent % n
                side = "customer" if (sent // n) % 2 == 0 else "worker"
                await self.send(i, side)
                sent += 1
            await asyncio.sleep(0.002)

    async def saturate_step(self, conversations: int, duration: float, patience: float) -> dict:
        """Closed loop over `conversations` conversations for `duration` seconds: each sends its next
        message (alternating sides) once the previous one arrived, so at most `conversations`
        messages are in flight and the offered load never outruns the server. A message that has not
        arrived after `patience` seconds ends its conversation and counts as lost."""
        # The last seq each socket saw carries over: order is checked across steps, and the reconnect
        # test resumes every customer from where it was, whichever step it last took part in.
        self.stats = stats = Stats(last_seq=self.stats.last_seq)
        loop = asyncio.get_running_loop()
        cpu_start = sum(server.cpu_seconds() for server in self.servers)
        start = time.perf_counter()
        stop = start + duration

        async def conversation(i: int) -> None:
            # Woken by the reader when the other side receives (a future, not polling: a thousand
            # conversations polling every millisecond took the cores from the servers).
            side = "customer"
            while time.perf_counter() < stop:
                other = "worker" if side == "customer" else "customer"
                arrived = loop.create_future()
                client_id = await self.send(i, side, waiter=arrived)
                if (client_id, other) not in stats.received:
                    try:
                        await asyncio.wait_for(arrived, patience)
                    except TimeoutError:
                        return
                side = other

        await asyncio.gather(*(conversation(i) for i in range(conversations)))
        cpu_us = (sum(server.cpu_seconds() for server in self.servers) - cpu_start) * 1e6 / max(len(stats.latencies), 1)
        in_window = [t for t in stats.delivered_at if t <= stop]
        latencies = stats.latencies[:len(in_window)]  # delivered_at and latencies are appended together
        return {"conversations": conversations, "rate": len(in_window) / duration, "p50": pct(latencies, 50),
                "p99": pct(latencies, 99), "lost": stats.lost(), "dup": stats.duplicated, "ooo": stats.out_of_order,
                "cpu_us": cpu_us}

    async def saturate(self, steps: list[int], duration: float, patience: float) -> list[dict]:
        """Find the peak: closed-loop steps with more and more concurrent conversations (see
        `saturate_step`). The saturation throughput is the best step's delivered rate among the
        steps that lost, doubled and reordered nothing. Stops once a step falls below 80% of the best
        (past the peak) or loses a message."""
        results = []
        for conversations in steps:
            step = await self.saturate_step(min(conversations, len(self.rows)), duration, patience)
            results.append(step)
            print(f"{self.mode}: saturation step {step['conversations']:>5} conversations {step['rate']:>8.1f}/s  "
                  f"p50 {step['p50']:>7.1f} ms  p99 {step['p99']:>7.1f} ms  "
                  f"lost/dup/ooo {step['lost']}/{step['dup']}/{step['ooo']}  "
                  f"server CPU {step['cpu_us']:>6.0f} µs/msg", flush=True)
            best = max(r["rate"] for r in results)
            if step["lost"] or step["rate"] < 0.8 * best or conversations >= len(self.rows):
                break
        return results

    async def close_all(self) -> None:
        for ws in list(self.sockets.values()):
            await ws.close()
        self.sockets.clear()
        for task in self.readers:
            task.cancel()
        self.readers.clear()


def checkpoint() -> None:
    """Start the timed phase just after a PostgreSQL checkpoint. A checkpoint's sync phase (thousands
    of files on a machine whose test suites create databases) stalls WAL flushes, and every chat
    message waits for its commit's flush: one landing inside the 60 s window decides p95/p99."""
    import psycopg

    try:
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except (psycopg.Error, KeyError) as exc:
        print(f"(no CHECKPOINT before the phase: {exc})", flush=True)


async def run_phase(mode: str, rows: list[dict], servers: list[Server], args) -> dict:
    load = Load(mode, rows, servers)
    open_s = await load.open_all()
    if args.checkpoint:
        await asyncio.to_thread(checkpoint)
    stats_start = time.perf_counter()
    cpu_start = sum(server.cpu_seconds() for server in servers)
    await load.steady(args.rate, args.duration)
    stats = load.stats
    # Late is not lost: wait until everything arrived, or nothing more arrives for `drain` seconds.
    seen, quiet_since, give_up = -1, time.perf_counter(), time.perf_counter() + 60
    while len(stats.latencies) < len(stats.sent) and time.perf_counter() < give_up:
        if len(stats.latencies) != seen:
            seen, quiet_since = len(stats.latencies), time.perf_counter()
        elif time.perf_counter() - quiet_since > args.drain:
            break
        await asyncio.sleep(0.1)
    cpu_ms = (sum(server.cpu_seconds() for server in servers) - cpu_start) * 1000
    result = {
        "cpu_us": cpu_ms * 1000 / max(len(stats.latencies), 1),
        "open_s": open_s, "sent": len(stats.sent), "delivered": len(stats.latencies),
        "rate": len(stats.latencies) / args.duration, "p50": pct(stats.latencies, 50), "p95": pct(stats.latencies, 95),
        "p99": pct(stats.latencies, 99), "lost": stats.lost(), "dup": stats.duplicated, "ooo": stats.out_of_order,
        "errors": stats.errors,
    }
    missing = [(cid, info[2], round(info[0] - stats_start, 2)) for cid, info in stats.sent.items()
               if (cid, "worker" if info[2] == "customer" else "customer") not in stats.received]
    if missing:
        print(f"{mode}: {len(missing)} not delivered, e.g. {missing[:8]}", flush=True)
    steps = await load.saturate(args.saturation_steps, args.saturation, args.patience)
    clean = [s for s in steps if not (s["lost"] or s["dup"] or s["ooo"])]
    peak = max(clean, key=lambda s: s["rate"]) if clean else {"rate": 0.0, "conversations": 0, "p50": float("nan"),
                                                              "p99": float("nan")}
    result.update({"sat_cpu_us": sum(s["cpu_us"] for s in steps) / max(len(steps), 1),
                   "saturation": peak["rate"], "sat_conversations": peak["conversations"], "sat_p50": peak["p50"],
                   "sat_p99": peak["p99"], "sat_unclean": sum(1 for s in steps if s not in clean)})
    if mode == "shiftline" and args.idle:
        result["idle_kib"] = await idle_memory(load, servers, args.idle)
    if mode == "shiftline" and args.reconnect:
        result["reconnect_s"] = await reconnect_all(load)
    await load.close_all()
    return result


async def idle_memory(load: Load, servers: list[Server], count: int) -> float:
    """Extra server memory per idle customer socket (opened on the existing tickets)."""
    from websockets.asyncio.client import connect

    await asyncio.sleep(1)
    before = sum(s.rss_kib() for s in servers)
    extra: list[ClientConnection] = []
    sem = asyncio.Semaphore(100)

    async def one(i):
        async with sem:
            extra.append(await connect(load.uri(i % len(load.rows), "customer"), open_timeout=60, ping_interval=None))

    await asyncio.gather(*(one(i) for i in range(count)))
    await asyncio.sleep(2)
    after = sum(s.rss_kib() for s in servers)
    for ws in extra:
        await ws.close()
    return (after - before) / count


async def reconnect_all(load: Load) -> float:
    """Drop every socket at once; reopen all (customers with after=last seq) and time it."""
    last = {i: load.stats.last_seq.get((i, "customer"), 0) for i in range(len(load.rows))}
    keys = list(load.sockets)
    await asyncio.gather(*(ws.close() for ws in load.sockets.values()))
    load.sockets.clear()
    started = time.perf_counter()
    sem = asyncio.Semaphore(200)

    async def one(i, side):
        async with sem:
            await load.open(i, side, after=last[i] if side == "customer" else None)

    await asyncio.gather(*(one(i, side) for i, side in keys))
    return time.perf_counter() - started


def fmt(value: float, unit: str = "") -> str:
    return f"{value:,.1f}{unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", "-c", type=int, default=250, help="customer sockets (default 250)")
    parser.add_argument("--workers", "-w", type=int, default=None, help="worker sockets (default: = conversations)")
    parser.add_argument("--rate", type=float, default=200, help="messages per second in total (default 200)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of steady load (default 30)")
    parser.add_argument("--saturation", type=float, default=5,
                        help="seconds of each closed-loop saturation step (default 5)")
    parser.add_argument("--saturation-steps", type=lambda v: [int(n) for n in v.split(",")],
                        default=[50, 100, 200, 400, 700, 1000],
                        help="concurrent conversations of each saturation step, ascending "
                             "(default 50,100,200,400,700,1000; capped at --conversations)")
    parser.add_argument("--patience", type=float, default=10,
                        help="seconds a saturation step waits for a message before counting it lost (default 10)")
    parser.add_argument("--drain", type=float, default=10,
                        help="stop waiting for late deliveries after this many quiet seconds (default 10)")
    parser.add_argument("--servers", type=int, default=2, help="ASGI server processes (default 2)")
    parser.add_argument("--idle", type=int, default=0, help="also measure memory of N idle sockets")
    parser.add_argument("--reconnect", action="store_true", help="also drop every socket at once and resume")
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument("--no-checkpoint", dest="checkpoint", action="store_false",
                        help="do not run a PostgreSQL CHECKPOINT before each timed phase")
    parser.add_argument("--ws", default="websockets-sansio", help="uvicorn websocket implementation")
    parser.add_argument("--deflate", action="store_true", help="permessage-deflate on (uvicorn's default)")
    args = parser.parse_args()
    args.workers = args.workers or args.conversations

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    base_db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shiftline")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    database_url = bench_database_url(base_db, "chat")
    (ROOT / "var").mkdir(exist_ok=True)
    env = server_env(database_url, redis_url, "bench")
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY",
                                           "DEBUG", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "LOG_LEVEL")})
    os.environ["DATABASE_POOL"] = "false"
    t0 = time.perf_counter()
    ensure_database(database_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    rows = prepare_data(args.conversations, args.workers)
    print(f"setup: database {urlparse(database_url).path[1:]}, {args.conversations} conversations, "
          f"{args.workers} worker sockets, {args.servers} uvicorn processes, rate {args.rate:g}/s for "
          f"{args.duration:g}s ({time.perf_counter() - t0:.1f}s)", flush=True)

    results = {}
    servers = [Server(["marketplace.asgi:application"], env, ws=args.ws, deflate=args.deflate)
               for _ in range(args.servers)]
    try:
        results["shiftline"] = asyncio.run(run_phase("shiftline", rows, servers, args))
    finally:
        for server in servers:
            server.stop()
    if not args.skip_relay:
        relay_env = dict(env)
        relay_env.pop("DJANGO_SETTINGS_MODULE", None)
        relay_env["RELAY_CHANNEL_LAYER"] = relay_channel_layer()
        servers = [Server(["--factory", "chat:relay_application", "--app-dir", str(ROOT / "bench")], relay_env,
                          ws=args.ws, deflate=args.deflate)
                   for _ in range(args.servers)]
        try:
            results["relay"] = asyncio.run(run_phase("relay", rows, servers, args))
        finally:
            for server in servers:
                server.stop()

    print()
    print(f"{'':34}{'shiftline':>14}{'bare relay':>14}   target")
    def line(label, key, unit="", target=""):
        values = [results.get(m, {}).get(key) for m in ("shiftline", "relay")]
        cells = "".join(f"{fmt(v, unit) if v is not None else '-':>14}" for v in values)
        print(f"{label:34}{cells}   {target}")
    line("sockets opened in (s)", "open_s")
    line("messages sent", "sent")
    line("messages delivered", "delivered")
    line("delivered messages/s", "rate", "", f">= {args.rate:g}/s offered")
    line("latency p50 (ms)", "p50")
    line("latency p95 (ms)", "p95", "", f"< {TARGETS['p95_ms']} ms")
    line("latency p99 (ms)", "p99", "", f"< {TARGETS['p99_ms']} ms")
    line("lost", "lost", "", "0")
    line("duplicated", "dup", "", "0")
    line("out of order", "ooo", "", "0")
    line("error events", "errors", "", "0")
    line("server CPU per message (µs)", "cpu_us", "", "steady phase, all servers")
    line("  at saturation (µs)", "sat_cpu_us", "", "mean over the steps")
    line("saturation messages/s", "saturation", "", "best clean step")
    line("  at concurrent conversations", "sat_conversations")
    line("  latency p50 (ms)", "sat_p50")
    line("  latency p99 (ms)", "sat_p99")
    line("  steps with lost/dup/ooo", "sat_unclean", "", "(not counted)")
    if "relay" in results:
        ratio = results["shiftline"]["saturation"] / results["relay"]["saturation"]
        print(f"{'saturation vs bare relay':34}{ratio:>14.0%}{'':>14}   >= {TARGETS['ratio']:.0%}")
        cost = results["relay"]["sat_cpu_us"] / results["shiftline"]["sat_cpu_us"]
        print(f"{'  relay CPU / shiftline CPU':34}{cost:>14.0%}{'':>14}   per message at saturation: the same "
              "ratio without the load generator's share of the cores")
    if "idle_kib" in results["shiftline"]:
        print(f"{'server memory per idle socket':34}{results['shiftline']['idle_kib']:>12.1f}KiB{'':>14}   "
              f"< {TARGETS['idle_kib']} KiB ({args.idle} sockets)")
    if "reconnect_s" in results["shiftline"]:
        print(f"{'all sockets dropped, resumed in':34}{results['shiftline']['reconnect_s']:>13.1f}s{'':>14}   "
              f"< {TARGETS['reconnect_s']} s")
    shift = results["shiftline"]
    ok = shift["lost"] == 0 and shift["dup"] == 0 and shift["ooo"] == 0
    print(f"\ntotal {time.perf_counter() - t0:.0f}s; integrity {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

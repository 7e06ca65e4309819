"""Live chat sockets: authenticate at the handshake, relay frames to services, forward events.

`TicketConsumer` (`/ws/tickets/{id}/?token=TOKEN&after=SEQ`) is the customer's; `AgentConsumer`
(`/ws/agent/`) is a worker console's, covering every ticket the worker holds; `LiveBoardConsumer`
(`/ws/ops/live/`) is the ops live board's. All refuse at the handshake (`close()` before
`accept()`); origin and API-token authentication happen in `kernel.ws`.

Delivery: the channel layer is at-most-once, so each socket remembers the last seq it sent per
ticket; an event that would leave a gap first pulls the missing messages from the database, and a
seq already sent is dropped. A socket therefore sees every message it may see, once, in order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync
from django.conf import settings

from kernel.errors import DomainError
from kernel.json_input import MalformedJSON, parse_json
from kernel.ws import SocketConsumer, query_param
from tickets import events, selectors, services
from tickets.errors import TicketErrorCode
from tickets.models import Ticket, TicketStatus
from workers.models import Role
from workers.presence import presence_heartbeat, presence_heartbeat_interval

logger = logging.getLogger(__name__)


# `SOCKET_DB_THREADS` (settings): the consumers' own threads, apart from Channels' single sync thread.
_DB_EXECUTOR = ThreadPoolExecutor(max_workers=settings.SOCKET_DB_THREADS, thread_name_prefix="chat-db")


def database_sync_to_async(func):
    """Run ORM work in a thread pool of its own rather than Channels' one database thread: each call
    is its own transaction (measured in bench/chat.py)."""
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_DB_EXECUTOR)

CLIENT_TYPES = ("message", "typing")


class FrameError(Exception):
    def __init__(self, code: TicketErrorCode, detail: str) -> None:
        self.code, self.detail = code, detail
        super().__init__(detail)


# A frame carries at most a 4,000-character body and a few short fields; anything much larger is
# refused before it is decoded (the server's own frame limit stays far above, for other sockets).
MAX_FRAME_CHARS = 16_384


class TokenBucket:
    """Per-socket typing-event limit: `rate` a second sustained, `burst` at once. (Messages are
    limited per ticket and per user by `services.message_post`, whatever socket carries them.)"""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity, self.tokens, self.at = rate, float(burst), float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


_message_post = database_sync_to_async(services.message_post)
_customer_open = database_sync_to_async(services.ticket_customer_open)
_customer_seen = database_sync_to_async(services.ticket_customer_seen)
_agent_close = database_sync_to_async(services.agent_presence_disconnect)


@database_sync_to_async
def _messages_between(ticket_id: int, after: int, until: int | None, include_internal: bool) -> list[dict]:
    return [events.message_event(m) for m in selectors.ticket_messages(
        ticket_id=ticket_id, after=after, until=until, include_internal=include_internal)]


class ChatSocket(SocketConsumer):
    """What both sockets share: frame parsing, errors, rate limit, ordered gap-free delivery."""

    include_internal = False

    async def websocket_connect(self, message):
        self.sent_seq: dict[int, int] = {}
        self.typing_bucket = TokenBucket(5, 10)
        await super().websocket_connect(message)

    async def send_event(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event))

    async def send_error(self, code: str, detail: str) -> None:
        await self.send_event(events.error_event(code, detail))

    async def deliver(self, event: dict[str, Any]) -> None:
        """Send a message event in seq order, filling any gap from the database, never twice."""
        ticket_id, seq = event["ticket"], event["seq"]
        last = self.sent_seq.get(ticket_id)
        if last is None:
            last = seq - 1
        if seq <= last:
            return
        if seq > last + 1:
            for missing in await _messages_between(ticket_id, last, seq, self.include_internal):
                await self.send_event(missing)
        self.sent_seq[ticket_id] = seq
        await self.send_event(event)

    async def relay(self, event: dict[str, Any]) -> None:
        """A client event from the layer: messages in seq order, the rest through `on_event`."""
        if event["type"] == "message":
            if event["internal"] and not self.include_internal:
                return
            await self.deliver(event)
        else:
            await self.on_event(event)

    async def on_event(self, event: dict[str, Any]) -> None:
        await self.send_event(event)

    def parse(self, text_data: str | None) -> dict[str, Any]:
        if text_data is None:
            raise FrameError(TicketErrorCode.MALFORMED_FRAME, "Frames must be JSON text.")
        if len(text_data) > MAX_FRAME_CHARS:
            raise FrameError(TicketErrorCode.FRAME_TOO_LARGE, f"A frame holds at most {MAX_FRAME_CHARS} characters.")
        try:
            frame = parse_json(text_data)
        except MalformedJSON as exc:
            raise FrameError(TicketErrorCode.MALFORMED_FRAME, f"Frames must be JSON. {exc}")
        if not isinstance(frame, dict):
            raise FrameError(TicketErrorCode.MALFORMED_FRAME, "A frame is a JSON object.")
        kind = frame.get("type")
        if kind not in CLIENT_TYPES:
            raise FrameError(TicketErrorCode.UNKNOWN_TYPE,
                             f"Unknown frame type; expected one of {', '.join(CLIENT_TYPES)}.")
        return frame

    def check_rate(self, frame: dict[str, Any]) -> None:
        if not settings.RATELIMIT_ENABLE or frame["type"] != "typing":
            return
        if not self.typing_bucket.take():
            raise FrameError(TicketErrorCode.RATE_LIMITED, "Too many typing events; slow down.")

    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = self.parse(text_data)
            self.check_rate(frame)
            await self.handle_frame(frame)
        except FrameError as exc:
            await self.send_error(exc.code, exc.detail)
        except DomainError as exc:
            await self.send_error(exc.code, exc.detail)

    async def post_message(self, ticket_id: int, frame: dict[str, Any], user) -> None:
        """Store the frame's message (`services.message_post` holds every rule) and acknowledge it."""
        message, created = await _message_post(ticket_id=ticket_id, body=frame.get("body"),
                                               client_id=frame.get("client_id"), user=user,
                                               internal=frame.get("internal", False))
        event = events.message_event(message)
        if created:
            await self.deliver(event)
        else:
            # A repeated client_id: the stored message again, as the acknowledgement.
            await self.send_event(event)


# --- Customer --------------------------------------------------------------------------------


@database_sync_to_async
def _assigned_worker(ticket_id: int) -> int | None:
    return Ticket.objects.filter(pk=ticket_id, status=TicketStatus.ASSIGNED).values_list(
        "assigned_worker_id", flat=True).first()


class TicketConsumer(ChatSocket):
    """The customer's socket for one ticket, opened with that ticket's token."""

    async def ticket_event(self, message: dict[str, Any]) -> None:
        await self.relay(message["event"])

    async def connect(self):
        try:
            ticket_id = int(self.scope["url_route"]["kwargs"]["ticket_id"])
            after_raw = query_param(self.scope, "after")
            after = int(after_raw) if after_raw not in (None, "") else None
            if after is not None and after < 0:
                raise ValueError
        except (TypeError, ValueError):
            await self.close(code=4400)
            return
        # Subscribed before last_seq is read, so a message posted after that read comes on the
        # group; whatever came before it is replayed from the database (when `after` is behind).
        group = events.ticket_group(ticket_id)
        await self.channel_layer.group_add(group, self.channel_name)
        last_seq = await _customer_open(ticket_id=ticket_id, token=query_param(self.scope, "token"))
        if last_seq is None:
            await self.channel_layer.group_discard(group, self.channel_name)
            await self.close(code=4404)
            return
        self.ticket_id, self.group = ticket_id, group
        await self.accept()
        if after is None:
            self.sent_seq[ticket_id] = last_seq
        else:
            self.sent_seq[ticket_id] = after
            if after < last_seq:
                for event in await _messages_between(ticket_id, after, None, False):
                    self.sent_seq[ticket_id] = event["seq"]
                    await self.send_event(event)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await _customer_seen(ticket_id=self.ticket_id)

    async def handle_frame(self, frame: dict[str, Any]) -> None:
        ticket = frame.get("ticket", self.ticket_id)
        if ticket != self.ticket_id:
            raise FrameError(TicketErrorCode.NOT_FOUND, "This socket belongs to another ticket.")
        if frame["type"] == "message":
            await self.post_message(self.ticket_id, frame, None)
        else:
            worker_id = await _assigned_worker(self.ticket_id)
            if worker_id:
                await self.channel_layer.group_send(*events.to_worker(
                    worker_id, events.typing_event(self.ticket_id, "customer")))


# --- Worker console --------------------------------------------------------------------------


@database_sync_to_async
def _agent_open(user) -> tuple[int, list[dict]] | None:
    if user is None or not user.is_authenticated or user.role != Role.WORKER:
        return None
    if not services.agent_presence_connect(worker_id=user.pk):
        return None  # not an approved worker
    # Routing first (the worker is present now), so the tickets it gives them are among the held
    # ones read next: one thread hop per console connect, not two.
    services.ticket_route(notify_positions=False)
    held = [events.ticket_as_json(t) for t in selectors.worker_console_tickets(worker_id=user.pk)]
    return user.pk, held


@database_sync_to_async
def _heartbeat(worker_ids: list[int]) -> None:
    presence_heartbeat(worker_ids=worker_ids)


class _Heartbeats:
    """One heartbeat for all the consoles a process holds: a single UPDATE every interval.

    A beat per socket made a thousand consoles that connected together beat together: bursts of
    a thousand UPDATEs that chat messages queued behind (measured in bench/chat.py).
    """

    def __init__(self) -> None:
        self.sockets: Counter[int] = Counter()
        self.task: asyncio.Task | None = None

    def add(self, worker_id: int) -> None:
        self.sockets[worker_id] += 1
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self._run())

    def remove(self, worker_id: int) -> None:
        self.sockets[worker_id] -= 1
        if self.sockets[worker_id] <= 0:
            del self.sockets[worker_id]

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(presence_heartbeat_interval().total_seconds())
            try:
                await _heartbeat(list(self.sockets))
            except Exception:
                logger.exception("presence heartbeat failed")


_heartbeats = _Heartbeats()


@database_sync_to_async
def _held_customer_ticket(worker_id: int, ticket_id: int) -> bool:
    return Ticket.objects.filter(pk=ticket_id, status=TicketStatus.ASSIGNED, assigned_worker_id=worker_id).exists()


def _from_widget_site(scope) -> bool:
    """Whether the socket comes from a site embedding the widget (not one of ours): such sites may
    open customer sockets, never a worker's console or an ops board."""
    origin = next((v.decode("latin1") for k, v in scope.get("headers", []) if k == b"origin"), None)
    return origin in settings.WIDGET_ALLOWED_ORIGINS and origin not in settings.CSRF_TRUSTED_ORIGINS


class AgentConsumer(ChatSocket):
    """A worker's console: marks them present, then carries every ticket they hold.

    It listens on the worker's group (assignments, transfers, resolutions, internal notes, the
    customer's typing) and on the group of each ticket they hold, where chat messages are published
    once for the customer and the worker alike; from there it relays only messages stored while
    this worker held the ticket (`holder`), so a console that missed a transfer still relays
    nothing of a ticket it no longer holds.
    """

    include_internal = True

    async def connect(self):
        if _from_widget_site(self.scope):
            await self.close(code=4403)
            return
        opened = await _agent_open(self.scope.get("user"))
        if opened is None:
            await self.close(code=4401)
            return
        self.worker_id, held = opened
        self.user = self.scope["user"]
        self.group = events.agent_group(self.worker_id)
        self.ticket_groups: set[str] = set()
        await self.channel_layer.group_add(self.group, self.channel_name)
        for ticket in held:
            await self.listen(ticket["id"])
        await self.accept()
        for ticket in held:
            self.sent_seq[ticket["id"]] = ticket["last_seq"]
            await self.send_event(events.ticket_assigned_event(ticket))
        _heartbeats.add(self.worker_id)
        self.beating = True

    async def disconnect(self, code):
        if hasattr(self, "group"):
            if getattr(self, "beating", False):
                _heartbeats.remove(self.worker_id)
                self.beating = False
            for group in self.ticket_groups:
                await self.channel_layer.group_discard(group, self.channel_name)
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await _agent_close(worker_id=self.worker_id)

    async def listen(self, ticket_id: int) -> None:
        group = events.ticket_group(ticket_id)
        if group not in self.ticket_groups:
            self.ticket_groups.add(group)
            await self.channel_layer.group_add(group, self.channel_name)

    async def stop_listening(self, ticket_id: int) -> None:
        group = events.ticket_group(ticket_id)
        if group in self.ticket_groups:
            self.ticket_groups.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)

    async def worker_event(self, message: dict[str, Any]) -> None:
        await self.relay(message["event"])

    async def ticket_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event["type"] != "message":
            return  # the customer's side of an event; this console gets its own on the worker's group
        # Another holder's message is dropped, never a reason to stop listening: one stored before a
        # transfer to this worker may arrive after it.
        if message.get("holder") == self.worker_id:
            await self.deliver(event)

    async def on_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "ticket.assigned":
            ticket = event["ticket"]
            last_seq = max(self.sent_seq.get(ticket["id"], 0), ticket["last_seq"])
            self.sent_seq[ticket["id"]] = last_seq
            await self.listen(ticket["id"])
            await self.send_event(event)
            # What the customer wrote between the assignment and listening on the ticket's group.
            for missing in await _messages_between(ticket["id"], last_seq, None, True):
                await self.deliver(missing)
            return
        if event["type"] in ("ticket.resolved", "ticket.transferred"):
            await self.stop_listening(event["ticket"])
        await self.send_event(event)

    async def handle_frame(self, frame: dict[str, Any]) -> None:
        ticket_id = frame.get("ticket")
        if ticket_id is None:
            raise FrameError(TicketErrorCode.INVALID, "Missing field(s): ticket.")
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
            raise FrameError(TicketErrorCode.INVALID, "ticket must be a ticket id.")
        if frame["type"] == "message":
            await self.post_message(ticket_id, frame, self.user)
        else:
            if not await _held_customer_ticket(self.worker_id, ticket_id):
                raise FrameError(TicketErrorCode.NOT_FOUND, "You do not hold that ticket.")
            await self.channel_layer.group_send(*events.to_ticket(ticket_id, events.typing_event(ticket_id, "worker")))


# --- Ops live board ----------------------------------------------------------------------------


@database_sync_to_async
def _staff_access(user) -> str:
    """"ops" for ops and admins, "other" for any other signed-in user, "anonymous" otherwise."""
    if user is None or not user.is_authenticated:
        return "anonymous"
    return "ops" if user.is_ops else "other"


@database_sync_to_async
def _live_board() -> dict[str, Any]:
    return selectors.live_board()


@database_sync_to_async
def _live_board_listening() -> None:
    events.live_board_listening_mark()


class LiveBoardConsumer(SocketConsumer):
    """The ops live board (read-only): the whole `live_board` snapshot on connect, then each one
    pushed to `ops.live`, and a fresh one after `OPS_LIVE_REFRESH` quiet seconds, since waits grow
    and SLAs lapse without any write. A snapshot older than the last one sent is dropped (pushes
    from several processes may cross).

    Refused at the handshake: 4403 from a widget site or for a signed-in user who is not ops or
    admin, 4401 without a user.
    """

    async def connect(self):
        if _from_widget_site(self.scope):
            await self.close(code=4403)
            return
        access = await _staff_access(self.scope.get("user"))
        if access != "ops":
            await self.close(code=4401 if access == "anonymous" else 4403)
            return
        self.sent_at: dt.datetime | None = None
        self.sent_clock = time.monotonic()
        await _live_board_listening()
        await self.channel_layer.group_add(events.LIVE_BOARD_GROUP, self.channel_name)
        self.joined = True
        await self.accept()
        await self.send_snapshot()
        self.refresher = asyncio.ensure_future(self.refresh())

    async def disconnect(self, code):
        if getattr(self, "refresher", None):
            self.refresher.cancel()
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(events.LIVE_BOARD_GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=json.dumps(events.error_event(TicketErrorCode.READ_ONLY,
                                                                "This socket only sends live board updates.")))

    def is_newer(self, generated_at: str) -> bool:
        at = dt.datetime.fromisoformat(generated_at)
        if self.sent_at is not None and at < self.sent_at:
            return False
        self.sent_at, self.sent_clock = at, time.monotonic()
        return True

    async def send_snapshot(self) -> None:
        board = await _live_board()
        if self.is_newer(board["generated_at"]):
            await self.send(text_data=json.dumps(events.live_board_event(board)))

    async def live_board_push(self, message: dict[str, Any]) -> None:
        if self.is_newer(message["generated_at"]):
            await self.send(text_data=message["text"])

    async def refresh(self) -> None:
        every = settings.SHIFTLINE["OPS_LIVE_REFRESH"]
        while True:
            await asyncio.sleep(max(every - (time.monotonic() - self.sent_clock), 0.1))
            await _live_board_listening()
            if time.monotonic() - self.sent_clock < every:
                continue
            try:
                await self.send_snapshot()
            except Exception:
                logger.exception("live board refresh failed")
                self.sent_clock = time.monotonic()

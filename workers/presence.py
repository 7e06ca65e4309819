"""Agent presence and standing: whether a worker's console is connected, and the scores routing uses.

`AgentPresence.connections` counts open agent sockets across every server process. When the last
closes, `disconnected_at` starts the grace period (`SHIFTLINE["PRESENCE_GRACE"]`); a reconnect
within it keeps the worker's tickets. Each open socket refreshes `last_seen_at` (heartbeat), so the
count left behind by a crashed process goes stale and is reset by `presence_reset_stale`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from workers.models import AgentPresence, Worker, WorkerEvent, WorkerStatus

# Each process refreshes `last_seen_at` of its sockets every SHIFTLINE["PRESENCE_HEARTBEAT"]
# (20 s); a presence silent for STALE_AFTER is gone.
STALE_AFTER = dt.timedelta(seconds=90)


def presence_heartbeat_interval() -> dt.timedelta:
    return settings.SHIFTLINE["PRESENCE_HEARTBEAT"]


def presence_grace() -> dt.timedelta:
    return settings.SHIFTLINE["PRESENCE_GRACE"]


def presence_connect(*, worker_id: int, at: dt.datetime | None = None) -> bool:
    """Count one more open agent socket for an approved worker, ending any grace period; False
    (and nothing counted) when the worker is not approved. `at` (default now): when.

    One statement, the approval check included: a thousand consoles
    reconnecting at once each cost one round trip.
    """
    now = at or timezone.now()
    table = AgentPresence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (worker_id, connections, connected_at, last_seen_at, disconnected_at) "  # nosec B608 # table names from the models; values are parameters
            f"SELECT user_id, 1, %s, %s, NULL FROM {Worker._meta.db_table} WHERE user_id = %s AND status = %s "
            f"ON CONFLICT (worker_id) DO UPDATE SET connections = {table}.connections + 1, "
            "connected_at = excluded.connected_at, last_seen_at = excluded.last_seen_at, disconnected_at = NULL "
            "RETURNING worker_id", [now, now, worker_id, WorkerStatus.APPROVED])
        return cursor.fetchone() is not None


# Parameters: now, now, worker id.
PRESENCE_DISCONNECT_SQL = (
    f"UPDATE {AgentPresence._meta.db_table} SET "  # nosec B608 # the table name from the model; values are parameters
    "connections = CASE WHEN connections > 0 THEN connections - 1 ELSE 0 END, "
    "disconnected_at = CASE WHEN connections <= 1 THEN %s ELSE disconnected_at END, last_seen_at = %s "
    "WHERE worker_id = %s")


def presence_disconnect(*, worker_id: int, at: dt.datetime | None = None) -> None:
    """Count one socket fewer; when none is left the grace period starts now (or `at`)."""
    now = at or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(PRESENCE_DISCONNECT_SQL, [now, now, worker_id])


def presence_heartbeat(*, worker_ids: Iterable[int]) -> int:
    """Refresh `last_seen_at` of these workers (every console a process holds) in one statement."""
    ids = sorted(set(worker_ids))
    if not ids:
        return 0
    return AgentPresence.objects.filter(worker_id__in=ids).update(last_seen_at=timezone.now())


def presence_reset_stale(*, now: dt.datetime | None = None) -> int:
    """Connections whose heartbeat stopped (their process died) count as closed from their last beat."""
    now = now or timezone.now()
    return AgentPresence.objects.filter(connections__gt=0, last_seen_at__lt=now - STALE_AFTER).update(
        connections=0, disconnected_at=F("last_seen_at")
    )


def present_workers_q(*, now: dt.datetime, prefix: str = "presence__") -> Q:
    """Workers connected now, or disconnected less than the grace period ago."""
    return Q(**{f"{prefix}connections__gt": 0}) | Q(**{f"{prefix}disconnected_at__gte": now - presence_grace()})


def presence_lost_workers(*, now: dt.datetime | None = None) -> QuerySet[AgentPresence]:
    """Presences with no socket whose grace period has run out."""
    now = now or timezone.now()
    return AgentPresence.objects.filter(connections=0, disconnected_at__lt=now - presence_grace())


def presence_mark_assigned(*, worker_id: int, at: dt.datetime) -> None:
    """Remember when the worker last received a ticket (for "longest idle" routing)."""
    updated = AgentPresence.objects.filter(worker_id=worker_id).update(last_assigned_at=at)
    if not updated:
        AgentPresence.objects.get_or_create(worker_id=worker_id, defaults={"last_assigned_at": at})


def worker_missed_assignment_record(*, worker_id: int, ticket_id: int, waited_seconds: int) -> WorkerEvent:
    """An assigned ticket went unanswered too long: keep the record and recompute reliability with the
    workers app's one formula (missed assignments weigh in there)."""
    from workers.services.reliability import worker_reliability_refresh

    with transaction.atomic():
        event = WorkerEvent.objects.create(
            worker_id=worker_id, kind="missed_assignment", reason="No first response in time.",
            data={"ticket_id": ticket_id, "waited_seconds": waited_seconds},
        )
        worker_reliability_refresh(worker_id=worker_id)
    return event


def worker_quality_score_update(*, worker_id: int, average_rating: float | None) -> None:
    """Quality score 0..100 from the average customer rating (1..5) of the worker's resolved tickets."""
    if average_rating is None:
        return
    score = Decimal(str(round((average_rating - 1) / 4 * 100, 2)))
    Worker.objects.filter(pk=worker_id).update(quality_score=score)

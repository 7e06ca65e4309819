"""Sending Celery tasks once a transaction commits, without failing the write when the broker is down.

By then the write is committed: the caller must get its real answer, not a 500 for a lost send.
Every task sent this way has a sweep that finds its work in the database (`outbox.redeliver` for
outbox events, `payouts.resume_queued_runs` for payout runs), so a lost send is only late.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def task_send(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Send `task` now; on a broker error, log a warning and return False (the sweep picks it up)."""
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except (BrokerError, RedisError, OSError) as exc:
        logger.warning("could not send %s%r (broker unavailable, left to its sweep): %s", task.name, args, exc)
        return False
    return True


def task_send_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """`task_send` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: task_send(task, *args, **kwargs))

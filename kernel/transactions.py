"""Retrying a transaction that PostgreSQL aborted to resolve a conflict.

`40001` (serialization_failure) and `40P01` (deadlock_detected) mean "this transaction lost a
race; run it again": nothing it did was kept. Money-moving services (settlement, payout sends,
webhook handling) wrap their transaction in `@retry_on_conflict`, so such an abort costs a short
wait instead of a failed run or a 500 that Stripe must redeliver.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)

CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})

P = ParamSpec("P")
R = TypeVar("R")


def is_conflict(exc: BaseException) -> bool:
    """A transaction PostgreSQL aborted for a serialization failure or a deadlock."""
    cause = exc.__cause__ if isinstance(exc, OperationalError) else None
    return getattr(cause, "sqlstate", None) in CONFLICT_SQLSTATES


ATTEMPTS = 5
BASE_DELAY = 0.02


def retry_on_conflict(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` again (up to `ATTEMPTS` times, with jittered exponential backoff) when its
    transaction is aborted by `40001` or `40P01`.

    Only where `fn` is the outermost transaction: inside a caller's `atomic()` the whole outer
    transaction is lost, so the error goes up to whoever owns it (itself retried, if marked so).
    `fn` must be safe to run again from the start (it is: the failed attempt left nothing)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block:
            return fn(*args, **kwargs)
        attempt = 1
        while True:
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                if attempt >= ATTEMPTS or not is_conflict(exc):
                    raise
                delay = BASE_DELAY * 2 ** (attempt - 1) * (0.5 + random.random())  # noqa: S311  # nosec B311 # jitter, not a secret
                logger.warning("%s: transaction aborted (%s), retry %d in %.3fs", fn.__qualname__,
                               getattr(exc.__cause__, "sqlstate", "?"), attempt, delay)
                time.sleep(delay)
                attempt += 1

    return wrapper

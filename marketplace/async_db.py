"""A small async PostgreSQL pool per event loop, for the few hot paths that run on the server's loop.

Most database work runs in threads through Django's ORM. A handful of fixed statements on the hottest
paths — chat messages from sockets, token-authenticated shift claims and releases over HTTP — run on
the loop itself instead: each thread hand-off costs a request two GIL switches, and under load the
threads of one process queue for the GIL (bench/claims.py and bench/chat.py measured both; README).
Statements are prepared once per pooled connection (`prepare=True`); Django turns psycopg's
automatic preparing off for its own connections.
"""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.db import connection
from psycopg_pool import AsyncConnectionPool

_pools: dict = {}  # event loop -> (AsyncConnectionPool, the future of its opening)


async def async_pool() -> AsyncConnectionPool | None:
    """This loop's pool (opened on first use), or None when the database is not PostgreSQL."""
    if connection.vendor != "postgresql":
        return None
    loop = asyncio.get_running_loop()
    entry = _pools.get(loop)
    if entry is None:
        params = {key: value for key, value in connection.get_connection_params().items()
                  if key not in ("cursor_factory", "context", "prepare_threshold")}

        async def autocommit(conn) -> None:
            await conn.set_autocommit(True)

        pool = AsyncConnectionPool(kwargs=params, min_size=1, max_size=max(settings.ASYNC_DB_POOL_MAX, 1),
                                   open=False, configure=autocommit, name="on-loop")
        entry = _pools[loop] = (pool, asyncio.ensure_future(pool.open(wait=True, timeout=10)))
    pool, opened = entry
    await asyncio.shield(opened)
    return pool


async def async_fetchone(sql: str, params) -> tuple | None:
    """Run one fixed statement on this loop's pool; its first row (None without one)."""
    pool = await async_pool()
    async with pool.connection() as conn:
        cursor = await conn.execute(sql, params, prepare=True)
        return await cursor.fetchone() if cursor.description else None

"""Async PostgreSQL pools per event loop, for the few hot paths that run on the server's loop.

Most database work runs in threads through Django's ORM. A handful of fixed statements on the hottest
paths run on the loop itself instead: chat messages from sockets (`tickets.services`, pool
"sockets") and token-authenticated shift claims and releases over HTTP (`workers.services`, pool
"http"). Each thread hand-off costs a request two GIL switches, and under load the threads of one
process queue for the GIL (bench/chat.py and bench/claims.py measured both; README). Statements are
prepared once per pooled connection (`prepare=True`); Django turns psycopg's automatic preparing off
for its own connections.

A pool is opened whole on first use (none of its connections opened in the middle of a burst). Its
size is a setting: `SOCKET_DB_CONNECTIONS` and `HTTP_DB_CONNECTIONS`.
"""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.db import connection
from psycopg_pool import AsyncConnectionPool

POOL_SIZE_SETTINGS = {"sockets": "SOCKET_DB_CONNECTIONS", "http": "HTTP_DB_CONNECTIONS"}

_pools: dict = {}  # (event loop, pool name) -> (AsyncConnectionPool, the future of its opening)


async def async_pool(name: str) -> AsyncConnectionPool | None:
    """This loop's pool `name`, or None when the database is not PostgreSQL."""
    entry = _pools.get((asyncio.get_running_loop(), name))
    if entry is not None and entry[1].done():  # every message and claim passes here: no shield
        entry[1].result()
        return entry[0]
    return await _async_pool_open(name)


async def _async_pool_open(name: str) -> AsyncConnectionPool | None:
    if connection.vendor != "postgresql":
        return None
    key = (asyncio.get_running_loop(), name)
    entry = _pools.get(key)
    if entry is None:
        params = {key: value for key, value in connection.get_connection_params().items()
                  if key not in ("cursor_factory", "context", "prepare_threshold")}

        async def autocommit(conn) -> None:
            await conn.set_autocommit(True)

        size = max(getattr(settings, POOL_SIZE_SETTINGS[name]), 1)
        pool = AsyncConnectionPool(kwargs=params, min_size=size, max_size=size, open=False, configure=autocommit,
                                   name=name)
        entry = _pools[key] = (pool, asyncio.ensure_future(pool.open(wait=True, timeout=10)))
    pool, opened = entry
    await asyncio.shield(opened)
    return pool


async def async_fetchone(name: str, sql: str, params) -> tuple | None:
    """Run one fixed statement on this loop's pool `name`; its first row (None without one)."""
    pool = await async_pool(name)
    async with pool.connection() as conn:
        cursor = await conn.execute(sql, params, prepare=True)
        return await cursor.fetchone() if cursor.description else None

"""Async PostgreSQL pools per event loop, for the few hot paths that run on the server's loop.

Most database work runs in threads through Django's ORM. Token-authenticated shift claims and
releases over HTTP (`workers.services`, pool "http") run on the loop itself instead. Statements are
prepared once per pooled connection (`prepare=True`); Django turns psycopg's automatic preparing off
for its own connections.

A pool is opened whole on first use (none of its connections opened in the middle of a burst). Its
size is a setting: `HTTP_DB_CONNECTIONS`.
"""

from __future__ import annotations

import asyncio
import weakref

from django.conf import settings
from django.db import connection
from psycopg_pool import AsyncConnectionPool

POOL_SIZE_SETTINGS = {"http": "HTTP_DB_CONNECTIONS"}

# event loop -> {pool name: (AsyncConnectionPool, the future of its opening)}
_pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def async_pool(name: str) -> AsyncConnectionPool | None:
    """This loop's pool `name`, or None when the database is not PostgreSQL."""
    entry = _pools.get(asyncio.get_running_loop(), {}).get(name)
    if entry is not None and entry[1].done() and entry[1].exception() is None:  # the hot path: no shield
        return entry[0]
    return await _async_pool_open(name)


async def _async_pool_open(name: str) -> AsyncConnectionPool | None:
    if connection.vendor != "postgresql":
        return None
    pools = _pools.setdefault(asyncio.get_running_loop(), {})
    entry = pools.get(name)
    if entry is None:
        params = {key: value for key, value in connection.get_connection_params().items()
                  if key not in ("cursor_factory", "context", "prepare_threshold")}

        async def configure(conn) -> None:
            # Django's own connections get UTC through their adapters' context, dropped above.
            await conn.set_autocommit(True)
            await conn.execute("SET TIME ZONE 'UTC'")

        size = max(getattr(settings, POOL_SIZE_SETTINGS[name]), 1)
        pool = AsyncConnectionPool(kwargs=params, min_size=size, max_size=size, open=False, configure=configure,
                                   name=name)
        entry = pools[name] = (pool, asyncio.ensure_future(pool.open(wait=True, timeout=10)))
    pool, opened = entry
    try:
        await asyncio.shield(opened)
    except BaseException:
        if pools.get(name) is entry:  # the database was away: the next call tries again
            del pools[name]
            await pool.close()
        raise
    return pool


async def async_pools_close() -> None:
    """Close this loop's pools (tests that run the loop paths in their own event loops)."""
    for pool, _opened in _pools.pop(asyncio.get_running_loop(), {}).values():
        await pool.close()


async def async_fetchone(name: str, sql: str, params) -> tuple | None:
    """Run one fixed statement on this loop's pool `name`; its first row (None without one)."""
    pool = await async_pool(name)
    async with pool.connection() as conn:
        cursor = await conn.execute(sql, params, prepare=True)
        return await cursor.fetchone() if cursor.description else None

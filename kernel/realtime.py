"""The server process's event loop, for synchronous code that must hand a coroutine to it.

HTTP requests run in worker threads (see `marketplace.asgi`) and websocket consumers' database code
runs in `database_sync_to_async` threads; both publish on the channel layer. An in-memory layer only
delivers on the loop its consumers listen on, and the Redis layer keeps its connections per loop, so
publishing goes through the server's loop whenever this process has one. The loop is the one our
ASGI application saw last (`server_loop_remember`), handed coroutines with asyncio's public
`run_coroutine_threadsafe`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import async_to_sync

_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def server_loop_remember(loop: asyncio.AbstractEventLoop) -> None:
    """Called from the ASGI application on each connection: the loop it runs on."""
    global _loop, _loop_pid
    if _loop is not loop:
        _loop, _loop_pid = loop, os.getpid()


def server_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop of this process's server, if there is one and we are not on it."""
    loop = _loop if _loop_pid == os.getpid() else None
    if loop is None or not loop.is_running():
        return None
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    return None if running is loop else loop


def run_soon(make_coroutine: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Start the coroutine on the server's loop without waiting for it; at once (and waiting)
    when this process has no server loop (Celery, management commands, tests in-process)."""
    loop = server_loop()
    if loop is not None:
        asyncio.run_coroutine_threadsafe(make_coroutine(), loop)
    else:
        async_to_sync(make_coroutine)()


def run_and_wait(make_coroutine: Callable[[], Coroutine[Any, Any, Any]], timeout: float) -> Any:
    """Run the coroutine on the server's loop (or a loop of our own) and return its result."""
    loop = server_loop()
    if loop is not None:
        return asyncio.run_coroutine_threadsafe(make_coroutine(), loop).result(timeout=timeout)
    return async_to_sync(make_coroutine)()

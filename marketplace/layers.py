"""The channel layer: channels-redis's PubSub layer, with group sends batched per loop iteration.

channels-redis 4.3 publishes one message per Redis round trip and holds its shard's lock for that
round trip, so every publish of a process waits behind the one before it; a chat message goes to
two groups (the ticket's and the worker's console), and under load that queue set the ceiling
(bench/chat.py, README "Live chat"). Here the group sends made while a batch is on its way are
sent together as one pipeline: one write and one round trip for all of them, in the order they
were made. Delivery semantics stay channels-redis's: at most once, per group in the order sent.

It leans on two internals of channels-redis 4.3 (pinned): the per-loop layer's
`_get_group_channel_name` / `_get_shard`, and the shard's `_lock`, `_ensure_redis()` and `_redis`.
tests/foundation/test_channel_layer.py runs it against Redis.
"""

from __future__ import annotations

import asyncio
import weakref

from channels_redis.pubsub import RedisPubSubChannelLayer


class _PublishBatch:
    """The publishes waiting for one shard connection, sent as one pipeline per round trip."""

    def __init__(self, shard) -> None:
        self.shard = shard
        self.pending: list[tuple[str, bytes, asyncio.Future]] = []
        self.flushing = False

    def add(self, channel: str, payload: bytes) -> asyncio.Future:
        done = asyncio.get_running_loop().create_future()
        self.pending.append((channel, payload, done))
        if not self.flushing:
            self.flushing = True
            asyncio.ensure_future(self._flush())
        return done

    async def _flush(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                try:
                    async with self.shard._lock:
                        self.shard._ensure_redis()
                        pipe = self.shard._redis.pipeline(transaction=False)
                        for channel, payload, _done in batch:
                            pipe.publish(channel, payload)
                        await pipe.execute()
                except Exception as exc:  # every waiter of this batch learns it failed
                    for _channel, _payload, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _channel, _payload, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self.flushing = False


_batches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _batch_for(shard) -> _PublishBatch:
    batch = _batches.get(shard)
    if batch is None:
        batch = _batches[shard] = _PublishBatch(shard)
    return batch


class BatchingRedisPubSubChannelLayer(RedisPubSubChannelLayer):
    """channels-redis's PubSub layer whose `group_send` joins the current batch (see the module)."""

    async def group_send(self, group: str, message: dict) -> None:
        await self.group_send_soon([(group, message)])[0]

    def group_send_soon(self, pairs: list[tuple[str, dict]]) -> list[asyncio.Future]:
        """Queue each (group, message) on the current batch, in order, from the running loop, and
        return at once: one future per pair, done when Redis took it (or failed with its error).
        No task per publish; a message object given for several groups is serialised once."""
        layer = self._get_layer()
        serialised: dict[int, bytes] = {}
        futures = []
        for group, message in pairs:
            payload = serialised.get(id(message))
            if payload is None:
                payload = serialised[id(message)] = self.serialize(message)
            channel = layer._get_group_channel_name(group)
            futures.append(_batch_for(layer._get_shard(channel)).add(channel, payload))
        return futures

    async def group_send_many(self, pairs: list[tuple[str, dict]]) -> None:
        """Send each (group, message) in order, in one batch; raises the first failure."""
        for result in await asyncio.gather(*self.group_send_soon(pairs), return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

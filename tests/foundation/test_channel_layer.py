"""The batching PubSub channel layer (marketplace/layers.py) against the real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.exceptions
from django.conf import settings

from marketplace.layers import BatchingRedisPubSubChannelLayer


def make_layer(hosts=None, prefix: str | None = None) -> BatchingRedisPubSubChannelLayer:
    return BatchingRedisPubSubChannelLayer(hosts=hosts or [settings.REDIS_URL],
                                           prefix=prefix or f"t{uuid.uuid4().hex[:8]}")


async def drain(layer, channel: str, count: int) -> list[dict]:
    return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]


def test_concurrent_group_sends_all_arrive_in_order_per_group():
    async def scenario():
        prefix = f"t{uuid.uuid4().hex[:8]}"
        sender, receiver = make_layer(prefix=prefix), make_layer(prefix=prefix)  # as two processes would
        groups = [f"g{uuid.uuid4().hex[:6]}" for _ in range(3)]
        channels = {}
        for group in groups:
            channels[group] = await receiver.new_channel()
            await receiver.group_add(group, channels[group])
        # 3 groups × 200 messages, all started at once: they leave in batches.
        await asyncio.gather(*(sender.group_send(group, {"type": "t.m", "n": n})
                               for n in range(200) for group in groups))
        received = {group: await drain(receiver, channels[group], 200) for group in groups}
        await sender.flush()
        await receiver.flush()
        return received

    received = asyncio.run(scenario())
    for messages in received.values():
        assert [m["n"] for m in messages] == list(range(200))


def test_group_send_many_keeps_the_order_it_was_given():
    async def scenario():
        layer = make_layer()
        ticket, agent = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("ticket", ticket)
        await layer.group_add("agent", agent)
        for n in range(50):
            await layer.group_send_many([("ticket", {"type": "t.m", "n": n}), ("agent", {"type": "t.m", "n": n})])
        got = await drain(layer, ticket, 50), await drain(layer, agent, 50)
        await layer.flush()
        return got

    ticket_messages, agent_messages = asyncio.run(scenario())
    assert [m["n"] for m in ticket_messages] == [m["n"] for m in agent_messages] == list(range(50))


def test_group_send_soon_queues_at_once_and_one_message_reaches_every_group():
    async def scenario():
        layer = make_layer()
        ticket, agent = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("ticket", ticket)
        await layer.group_add("agent", agent)
        message = {"type": "t.m", "text": "one event, two groups"}
        futures = layer.group_send_soon([("ticket", message), ("agent", message)])
        queued_only = not any(f.done() for f in futures)  # nothing awaited yet: nothing sent yet
        await asyncio.gather(*futures)
        got = await drain(layer, ticket, 1), await drain(layer, agent, 1)
        await layer.flush()
        return queued_only, got

    queued_only, (ticket_messages, agent_messages) = asyncio.run(scenario())
    assert queued_only
    assert ticket_messages == agent_messages == [{"type": "t.m", "text": "one event, two groups"}]


def test_a_publish_that_cannot_reach_redis_fails_for_every_waiter():
    async def scenario():
        layer = make_layer(hosts=["redis://127.0.0.1:1"])  # nothing listens there
        results = await asyncio.gather(*(layer.group_send("g", {"type": "t.m", "n": n}) for n in range(5)),
                                       return_exceptions=True)
        with pytest.raises(redis.exceptions.ConnectionError):
            await layer.group_send_many([("a", {"type": "t.m"}), ("b", {"type": "t.m"})])
        return results

    results = asyncio.run(scenario())
    assert len(results) == 5 and all(isinstance(r, redis.exceptions.ConnectionError) for r in results)

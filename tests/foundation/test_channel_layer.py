"""The configured channel layer (settings.CHANNEL_LAYERS) against the real Redis, as users rely on it:
group messages sent from another process arrive, each group's in the order sent."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

from channels.layers import get_channel_layer

ROOT = Path(__file__).resolve().parents[2]

SENDER = """
import asyncio, sys
import django
django.setup()
from channels.layers import get_channel_layer

async def main():
    layer = get_channel_layer()
    groups, count = sys.argv[1].split(","), int(sys.argv[2])
    # Every group's messages started at once, interleaved, as a busy server sends them.
    await asyncio.gather(*(layer.group_send(group, {"type": "t.m", "n": n})
                           for n in range(count) for group in groups))

asyncio.run(main())
"""


def test_group_messages_from_another_process_arrive_in_order_per_group():
    groups = [f"g{uuid.uuid4().hex[:8]}" for _ in range(3)]

    async def scenario():
        layer = get_channel_layer()
        channels = {}
        for group in groups:
            channels[group] = await layer.new_channel()
            await layer.group_add(group, channels[group])
        sender = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SENDER, ",".join(groups), "200", cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "marketplace.settings_test"})
        assert await asyncio.wait_for(sender.wait(), 30) == 0
        received = {group: [(await asyncio.wait_for(layer.receive(channels[group]), 5))["n"] for _ in range(200)]
                    for group in groups}
        for group in groups:
            await layer.group_discard(group, channels[group])
        await layer.flush()
        return received

    received = asyncio.run(scenario())

    assert received == {group: list(range(200)) for group in groups}


def test_the_layer_is_channels_redis_public_pubsub_layer():
    # The bench's bare relay runs the same class and config (bench/chat.py); no layer of our own.
    from django.conf import settings

    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert type(get_channel_layer()).__module__ == "channels_redis.pubsub"


def test_nothing_imports_private_names_of_asgiref_channels_or_channels_redis():
    result = subprocess.run(
        ["git", "grep", "-n", "-E",
         r"(from (asgiref|channels|channels_redis)[.a-z_]* import [^#]*\b_[a-z])|"
         r"((SyncToAsync|layer|shard)\._[a-z])|threadlocal",
         "--", "*.py", ":!tests/", ":!bench/"],
        cwd=ROOT, capture_output=True, text=True)
    assert result.stdout == ""

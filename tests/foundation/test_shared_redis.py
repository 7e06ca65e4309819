"""Two deployments on one Redis server, told apart only by their Redis DB numbers (no
CHANNEL_LAYER_PREFIX): Pub/Sub ignores DB numbers, so each must publish under its own prefix."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.servers import AsgiServer, RedisServerProcess
from tests.tickets.wsclient import connect, open_ticket_over_http, recv, recv_type, silent

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("skill_catalogue")]


def test_deployments_on_one_redis_with_different_db_numbers_do_not_hear_each_other(transactional_db):
    redis = RedisServerProcess()
    common = {"RATELIMIT_ENABLE": "false", "CHANNEL_LAYER_PREFIX": ""}
    first = AsgiServer(REDIS_URL=f"{redis.url}/1", **common)
    second = AsgiServer(REDIS_URL=f"{redis.url}/2", **common)
    # Both read the same test database, so ticket ids (and so group names) coincide, as they
    # would in two deployments with their own databases.
    ticket = open_ticket_over_http(first)
    path = f"/ws/tickets/{ticket['id']}/?token={ticket['token']}"

    async def scenario() -> tuple[dict, list]:
        async with connect(f"{first.ws_url}{path}") as mine, connect(f"{second.ws_url}{path}") as theirs:
            await silent(theirs, 0.3)
            response = await asyncio.to_thread(
                httpx.post, f"{first.url}/api/v1/tickets/{ticket['id']}/messages/",
                json={"body": "for my deployment only", "client_id": "c-1"},
                headers={"X-Ticket-Token": ticket["token"]}, timeout=10)
            assert response.status_code == 201
            return await recv_type(mine, "message"), await silent(theirs, 1.0)

    heard_here, heard_there = asyncio.run(scenario())

    assert (heard_here["seq"], heard_here["body"]) == (2, "for my deployment only")
    assert heard_there == []
    # The same deployment's processes still meet: a second process on the first one's DB hears it.
    sibling = AsgiServer(REDIS_URL=f"{redis.url}/1", **common)

    async def siblings() -> dict:
        async with connect(f"{sibling.ws_url}{path}") as other:
            await silent(other, 0.3)
            await asyncio.to_thread(
                httpx.post, f"{first.url}/api/v1/tickets/{ticket['id']}/messages/",
                json={"body": "to every process", "client_id": "c-2"}, headers={"X-Ticket-Token": ticket["token"]},
                timeout=10)
            return await recv(other)

    assert asyncio.run(siblings())["body"] == "to every process"
    for process in (sibling, second, first, redis):
        process.stop()

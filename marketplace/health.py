"""`GET /healthz`: database, channel layer round trip and Celery broker, each checked for real."""

from __future__ import annotations

import asyncio
import logging

from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse

from kernel.realtime import run_and_wait
from marketplace.celery import app as celery_app

logger = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2.0


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _channel_layer_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    await asyncio.wait_for(layer.send(channel, {"type": "healthz.ping"}), CHECK_TIMEOUT_SECONDS)
    message = await asyncio.wait_for(layer.receive(channel), CHECK_TIMEOUT_SECONDS)
    # The channel is left as a consumer leaves its own: a receive cancelled (the layer then drops
    # the channel; a receive that timed out above was cancelled already).
    leaving = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.gather(leaving, return_exceptions=True)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("the channel layer returned another message")


def _check_channel_layer() -> None:
    run_and_wait(_channel_layer_round_trip, timeout=3 * CHECK_TIMEOUT_SECONDS)


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2,
                               timeout=CHECK_TIMEOUT_SECONDS)


CHECKS = {"database": _check_database, "channel_layer": _check_channel_layer, "broker": _check_broker}


def healthz(request):
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure of a dependency is reported, never raised
            logger.warning("healthz: %s failed: %s", name, exc)
            results[name] = "error"
    failing = [name for name, state in results.items() if state != "ok"]
    if failing:
        return JsonResponse(
            {"status": "error", "checks": results, "failing": failing,
             "code": "unhealthy", "detail": f"Unavailable: {', '.join(failing)}."},
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": results})

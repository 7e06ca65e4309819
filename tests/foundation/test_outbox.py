"""The outbox: per-event and batch consumers of one topic, each handling every event exactly once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from kernel.outbox.handlers import EventNotReady, batch_handler
from kernel.outbox.models import ConsumedEvent, OutboxEvent
from kernel.outbox.services import Delivery, outbox_consume_batch, outbox_deliver, outbox_drain

ONE = "tests.foundation.test_outbox.seen_one"
MANY = "tests.foundation.test_outbox.seen_many"
handled: Counter[tuple[str, int]] = Counter()
batches: list[int] = []
lock = threading.Lock()


def seen_one(*, event_id, payload):
    if payload.get("not_ready"):
        raise EventNotReady("waiting")
    with lock:
        handled["one", payload["n"]] += 1


@batch_handler
def seen_many(*, events):
    if any(payload.get("broken") for _, payload in events):
        raise ValueError("broken payload")
    with lock:
        batches.append(len(events))
        for _, payload in events:
            handled["many", payload["n"]] += 1


@pytest.fixture(autouse=True)
def consumers(settings):
    settings.OUTBOX_HANDLERS = {"test.topic": [ONE, MANY]}
    handled.clear()
    batches.clear()


def _record(count: int, **extra) -> list[OutboxEvent]:
    # Rows only, as if their relays were lost.
    return OutboxEvent.objects.bulk_create([OutboxEvent(topic="test.topic", payload={"n": n, **extra})
                                            for n in range(count)])


def test_relay_and_batch_each_hand_every_event_to_each_consumer_once(db):
    events = _record(5)
    assert outbox_deliver(event_id=events[0].pk) == Delivery.DELIVERED

    taken = outbox_consume_batch(topic="test.topic", consumer=MANY, limit=3)
    taken += outbox_consume_batch(topic="test.topic", consumer=MANY, limit=3)
    for event in events:
        outbox_deliver(event_id=event.pk)

    assert (taken, batches) == (4, [1, 3, 1])  # the relay hands a batch handler a batch of one
    assert handled == {(name, n): 1 for name in ("one", "many") for n in range(5)}
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 0
    # A consumer that is not an event's last leaves a row; the last marks the event delivered.
    assert sorted(ConsumedEvent.objects.values_list("event", "consumer")) == sorted(
        [(events[0].pk, ONE)] + [(event.pk, MANY) for event in events[1:]])


@pytest.mark.django_db(transaction=True)
def test_two_drains_and_the_relay_at_once_never_hand_an_event_twice():
    events = _record(120)
    barrier = threading.Barrier(3)

    def drain():
        try:
            barrier.wait()
            outbox_drain(batch=7)
        finally:
            connection.close()

    def relay():
        try:
            barrier.wait()
            for event in events:
                outbox_deliver(event_id=event.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain), threading.Thread(target=drain), threading.Thread(target=relay)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert handled == {(name, n): 1 for name in ("one", "many") for n in range(120)}
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 0


def test_a_failing_batch_is_delivered_one_by_one_and_the_bad_event_set_aside(db):
    good = _record(3)
    bad = OutboxEvent.objects.create(topic="test.topic", payload={"n": 9, "broken": True})

    assert outbox_consume_batch(topic="test.topic", consumer=MANY) == 4
    assert outbox_consume_batch(topic="test.topic", consumer=MANY) == 0

    assert handled == {**{(name, n): 1 for name in ("one", "many") for n in range(3)}, ("one", 9): 1}
    assert OutboxEvent.objects.filter(pk__in=[e.pk for e in good], delivered_at__isnull=False).count() == 3
    bad.refresh_from_db()
    assert (bad.delivered_at, bad.attempts, bad.last_error) == (None, 1, f"{MANY}: broken payload")


def test_an_event_a_handler_is_not_ready_for_is_retried_and_nothing_recorded(db):
    event = OutboxEvent.objects.create(topic="test.topic", payload={"n": 1, "not_ready": True})

    assert outbox_deliver(event_id=event.pk) == Delivery.RETRY

    event.refresh_from_db()
    assert (event.delivered_at, event.attempts, event.last_error) == (None, 1, f"{ONE}: retry: waiting")
    assert handled == {("many", 1): 1}  # the other consumer went ahead, once
    assert list(ConsumedEvent.objects.values_list("consumer", flat=True)) == [MANY]

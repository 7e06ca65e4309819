"""Claims under real concurrency: threads against PostgreSQL, each with its own connection."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories.accounts import api_token_for
from tests.factories.workers import ShiftClaimFactory, ShiftFactory, WorkerFactory
from workers.models import Shift, ShiftClaim, ShiftWaitlistEntry

pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(calls):
    """Run each callable in its own thread, released together; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:  # a crash is a result the test must see
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _post_to_view(worker, path):
    token = api_token_for(worker.user)

    def call():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = client.post(path)
        return response.status_code, response.json().get("code")

    return call


@pytest.fixture(params=["in-process", "server"])
def post_as(request):
    """`post_as(worker, path)`: a call that POSTs with the worker's token, in-process through the
    Django view, or over HTTP to a running server (its request threads and connection pool)."""
    if request.param == "view":
        return _post_to_view
    server = request.getfixturevalue("asgi_server")

    def post_to_server(worker, path):
        token = api_token_for(worker.user)

        def call():
            response = httpx.post(server.url + path, headers={"Authorization": f"Token {token}"}, timeout=60)
            return response.status_code, response.json().get("code")

        return call

    return post_to_server


def test_fifty_workers_race_for_ten_seats(post_as):
    shift = ShiftFactory(capacity=10)
    workers = [WorkerFactory() for _ in range(50)]

    results = run_at_once([post_as(w, f"/api/v1/shifts/{shift.pk}/claim/") for w in workers])

    assert Counter(results) == {(201, None): 10, (409, "shift_full"): 40}
    shift.refresh_from_db()
    assert shift.seats_taken == 10
    assert ShiftClaim.objects.filter(shift=shift, status="active").count() == 10
    assert ShiftClaim.objects.filter(shift=shift).values("worker").distinct().count() == 10


def test_one_worker_claiming_two_overlapping_shifts_at_once_gets_one(post_as):
    worker = WorkerFactory()
    for _ in range(5):
        first, second = ShiftFactory(), ShiftFactory()

        results = run_at_once([post_as(worker, f"/api/v1/shifts/{first.pk}/claim/"),
                               post_as(worker, f"/api/v1/shifts/{second.pk}/claim/")])

        assert sorted(results, key=str) == [(201, None), (409, "shift_overlap")]
        assert ShiftClaim.objects.filter(worker=worker, status="active").count() == 1
        ShiftClaim.objects.filter(worker=worker).update(status="released")


def test_same_worker_double_claim_gets_one_seat(post_as):
    worker = WorkerFactory()
    shift = ShiftFactory(capacity=5)

    results = run_at_once([post_as(worker, f"/api/v1/shifts/{shift.pk}/claim/") for _ in range(4)])

    assert Counter(results) == {(201, None): 1, (409, "already_claimed"): 3}
    shift.refresh_from_db()
    assert shift.seats_taken == 1


def test_releases_racing_waitlist_promotion_give_each_seat_to_one_person(post_as):
    for _ in range(4):
        shift = ShiftFactory(capacity=2)
        holders = [ShiftClaimFactory(shift=shift).worker for _ in range(2)]
        waiting = WorkerFactory()
        ShiftWaitlistEntry.objects.create(shift=shift, worker=waiting)
        direct = WorkerFactory()

        results = run_at_once([
            post_as(holders[0], f"/api/v1/shifts/{shift.pk}/release/"),
            post_as(holders[1], f"/api/v1/shifts/{shift.pk}/release/"),
            post_as(direct, f"/api/v1/shifts/{shift.pk}/claim/"),
        ])

        assert results[:2] == [(200, None), (200, None)]
        assert results[2] in [(201, None), (409, "shift_full")]
        shift.refresh_from_db()
        active = list(ShiftClaim.objects.filter(shift=shift, status="active").values_list("worker_id", flat=True))
        assert sorted(active) == sorted({waiting.pk, direct.pk} if results[2][0] == 201 else {waiting.pk})
        assert shift.seats_taken == len(active)
        assert ShiftWaitlistEntry.objects.get(worker=waiting).status == "promoted"
        assert Shift.objects.get(pk=shift.pk).seats_taken <= 2


def test_release_racing_direct_claim_on_full_shift_gives_seat_once(post_as):
    for _ in range(4):
        shift = ShiftFactory(capacity=1)
        holder = ShiftClaimFactory(shift=shift).worker
        waiting = WorkerFactory()
        ShiftWaitlistEntry.objects.create(shift=shift, worker=waiting)
        claimers = [WorkerFactory() for _ in range(3)]

        results = run_at_once([post_as(holder, f"/api/v1/shifts/{shift.pk}/release/")]
                              + [post_as(w, f"/api/v1/shifts/{shift.pk}/claim/") for w in claimers])

        assert results[0] == (200, None)
        assert all(r == (409, "shift_full") for r in results[1:])
        shift.refresh_from_db()
        assert shift.seats_taken == 1
        assert list(ShiftClaim.objects.filter(shift=shift, status="active").values_list("worker_id", flat=True)) == [
            waiting.pk]


def test_waitlist_join_racing_an_early_release_never_strands_the_joiner(post_as):
    """Whichever goes first, the joiner ends up holding the freed seat or is told it is not full —
    never waiting for a shift with a free seat."""
    for _ in range(6):
        shift = ShiftFactory(capacity=1)
        holder = ShiftClaimFactory(shift=shift).worker
        joiner = WorkerFactory()

        release, join = run_at_once([post_as(holder, f"/api/v1/shifts/{shift.pk}/release/"),
                                     post_as(joiner, f"/api/v1/shifts/{shift.pk}/waitlist/")])

        assert release == (200, None)
        entry = ShiftWaitlistEntry.objects.filter(shift=shift, worker=joiner).first()
        seats_taken = Shift.objects.get(pk=shift.pk).seats_taken
        if join == (201, None):
            assert entry.status == "promoted"
            assert ShiftClaim.objects.get(shift=shift, status="active").worker_id == joiner.pk
            assert seats_taken == 1
        else:
            assert (join, entry, seats_taken) == ((409, "shift_not_full"), None, 0)

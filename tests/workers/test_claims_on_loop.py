"""Claims and releases answered on the server's event loop (workers.api.seat_action_on_loop).

A running server answers a worker's token claim or release without a body on its event loop; the
same request with a JSON body goes to the Django view. Each scenario here is played twice on twin
data — once each way — and the two answers must be the same: status, error code and detail, the
claim's fields, and every header Django would send.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests.factories.workers import ShiftClaimFactory, ShiftFactory, StaffFactory, WorkerFactory
from workers.models import Shift, ShiftClaim, ShiftWaitlistEntry

pytestmark = pytest.mark.django_db(transaction=True)

_VARYING_HEADERS = {"date", "server", "content-length"}
_VARYING_FIELDS = {"id", "shift", "worker", "claimed_at", "released_at"}


def token_for(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def answer(server, user, path: str, *, on_loop: bool) -> tuple[int, dict, dict]:
    """POST `path` as `user` with its token: without a body (the loop answers) or with `{}` (the view)."""
    headers = {"Authorization": f"Token {token_for(user)}"}
    if on_loop:
        response = httpx.post(server.url + path, headers=headers, timeout=10)
    else:
        response = httpx.post(server.url + path, headers=headers, json={}, timeout=10)
    kept_headers = {name: value for name, value in response.headers.items() if name not in _VARYING_HEADERS}
    return response.status_code, response.json(), kept_headers


def normalised(body: dict) -> dict:
    """The body without what differs between twin worlds (ids and the moment of the request)."""
    body = {key: value for key, value in body.items() if key not in _VARYING_FIELDS}
    if "shift_detail" in body:
        body["shift_detail"] = {k: v for k, v in body["shift_detail"].items() if k != "id"}
    return body


def start_hours(hours: float) -> dt.datetime:
    return timezone.now().replace(microsecond=0, second=0) + dt.timedelta(hours=hours)


# Each scenario builds one world and returns (user, path) to POST; it is built twice.
def _claim_ok(starts: dt.datetime):
    return WorkerFactory().user, ShiftFactory(starts_at=starts, ends_at=starts + dt.timedelta(hours=2))


def scenario_claim_ok():
    starts = start_hours(30)
    user, shift = _claim_ok(starts)
    return user, f"/api/v1/shifts/{shift.pk}/claim/"


def scenario_claim_multiplier_kept():
    starts = start_hours(31)
    shift = ShiftFactory(starts_at=starts, ends_at=starts + dt.timedelta(hours=1), rate_multiplier="1.35")
    return WorkerFactory().user, f"/api/v1/shifts/{shift.pk}/claim/"


def scenario_claim_full():
    shift = ShiftFactory(capacity=1)
    ShiftClaimFactory(shift=shift)
    return WorkerFactory().user, f"/api/v1/shifts/{shift.pk}/claim/"


def scenario_claim_already_claimed():
    claim = ShiftClaimFactory()
    return claim.worker.user, f"/api/v1/shifts/{claim.shift_id}/claim/"


def scenario_claim_overlap():
    held = ShiftClaimFactory()
    other = ShiftFactory(starts_at=held.shift.starts_at + dt.timedelta(minutes=30),
                         ends_at=held.shift.ends_at + dt.timedelta(minutes=30))
    return held.worker.user, f"/api/v1/shifts/{other.pk}/claim/"


def scenario_claim_unknown_shift():
    return WorkerFactory().user, "/api/v1/shifts/987654321/claim/"


def scenario_claim_cancelled():
    shift = ShiftFactory(status="cancelled")
    return WorkerFactory().user, f"/api/v1/shifts/{shift.pk}/claim/"


def scenario_claim_ended():
    starts = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    shift = ShiftFactory(starts_at=starts, ends_at=starts + dt.timedelta(hours=2))
    return WorkerFactory().user, f"/api/v1/shifts/{shift.pk}/claim/"


def scenario_claim_wrong_language():
    shift = ShiftFactory(language="de")
    return WorkerFactory().user, f"/api/v1/shifts/{shift.pk}/claim/"


def scenario_claim_missing_skill():
    shift = ShiftFactory(skills=["refunds"])
    return WorkerFactory(skills=["general"]).user, f"/api/v1/shifts/{shift.pk}/claim/"


def scenario_claim_suspended_worker():
    shift = ShiftFactory()
    return WorkerFactory(status="suspended").user, f"/api/v1/shifts/{shift.pk}/claim/"


def scenario_claim_by_ops():
    shift = ShiftFactory()
    return StaffFactory(), f"/api/v1/shifts/{shift.pk}/claim/"


def scenario_release_ok():
    starts = start_hours(40)
    claim = ShiftClaimFactory(shift=ShiftFactory(starts_at=starts, ends_at=starts + dt.timedelta(hours=2)))
    return claim.worker.user, f"/api/v1/shifts/{claim.shift_id}/release/"


def scenario_release_late():
    starts = start_hours(1)
    claim = ShiftClaimFactory(shift=ShiftFactory(starts_at=starts, ends_at=starts + dt.timedelta(hours=2)))
    return claim.worker.user, f"/api/v1/shifts/{claim.shift_id}/release/"


def scenario_release_not_claimed():
    shift = ShiftFactory()
    return WorkerFactory().user, f"/api/v1/shifts/{shift.pk}/release/"


def scenario_release_checked_in():
    starts = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=10)
    claim = ShiftClaimFactory(shift=ShiftFactory(starts_at=starts, ends_at=starts + dt.timedelta(hours=2)),
                              checked_in_at=timezone.now())
    return claim.worker.user, f"/api/v1/shifts/{claim.shift_id}/release/"


SCENARIOS: dict[str, Callable] = {name.removeprefix("scenario_"): fn for name, fn in dict(globals()).items()
                                  if name.startswith("scenario_")}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_loop_answers_as_the_view_does(asgi_server, name):
    on_loop = answer(asgi_server, *SCENARIOS[name](), on_loop=True)
    by_view = answer(asgi_server, *SCENARIOS[name](), on_loop=False)

    assert on_loop[0] == by_view[0]
    assert normalised(on_loop[1]) == normalised(by_view[1])
    assert on_loop[2] == by_view[2]
    assert set(on_loop[1]) == set(by_view[1])


def test_loop_claim_takes_the_seat_and_release_gives_it_back(asgi_server):
    worker = WorkerFactory()
    shift = ShiftFactory(capacity=2, rate_multiplier="1.20")
    path = f"/api/v1/shifts/{shift.pk}/"

    status, body, _ = answer(asgi_server, worker.user, path + "claim/", on_loop=True)

    claim = ShiftClaim.objects.get(shift=shift, worker=worker)
    assert status == 201
    assert (body["id"], body["status"], body["rate_multiplier"]) == (claim.pk, "active", "1.20")
    assert body["shift_detail"]["seats_taken"] == 1
    assert Shift.objects.get(pk=shift.pk).seats_taken == 1

    status, body, _ = answer(asgi_server, worker.user, path + "release/", on_loop=True)

    claim.refresh_from_db()
    assert (status, body["status"], body["late_release"]) == (200, "released", False)
    assert claim.status == "released" and claim.released_at is not None
    assert Shift.objects.get(pk=shift.pk).seats_taken == 0


def test_loop_release_with_a_waitlist_promotes_the_first_waiting(asgi_server):
    shift = ShiftFactory(capacity=1)
    holder = ShiftClaimFactory(shift=shift).worker
    waiting = WorkerFactory()
    ShiftWaitlistEntry.objects.create(shift=shift, worker=waiting)

    status, body, _ = answer(asgi_server, holder.user, f"/api/v1/shifts/{shift.pk}/release/", on_loop=True)

    assert (status, body["status"]) == (200, "released")
    assert list(ShiftClaim.objects.filter(shift=shift, status="active").values_list("worker_id", flat=True)) == [
        waiting.pk]
    assert Shift.objects.get(pk=shift.pk).seats_taken == 1


def test_loop_refusal_changes_nothing(asgi_server):
    shift = ShiftFactory(capacity=1)
    ShiftClaimFactory(shift=shift)
    worker = WorkerFactory()

    status, body, _ = answer(asgi_server, worker.user, f"/api/v1/shifts/{shift.pk}/claim/", on_loop=True)

    assert (status, body["code"]) == (409, "shift_full")
    assert not ShiftClaim.objects.filter(worker=worker).exists()
    assert Shift.objects.get(pk=shift.pk).seats_taken == 1


def test_bad_token_and_foreign_host_are_answered_by_django(asgi_server):
    shift = ShiftFactory()

    bad_token = httpx.post(f"{asgi_server.url}/api/v1/shifts/{shift.pk}/claim/",
                           headers={"Authorization": "Token not-a-real-token"}, timeout=10)
    foreign_host = httpx.post(f"{asgi_server.url}/api/v1/shifts/{shift.pk}/claim/",
                              headers={"Authorization": f"Token {token_for(WorkerFactory().user)}",
                                       "Host": "evil.example.com"}, timeout=10)

    assert (bad_token.status_code, bad_token.json()["code"]) == (401, "authentication_failed")
    assert foreign_host.status_code == 400
    assert not ShiftClaim.objects.exists()


def test_loop_claims_obey_the_per_user_rate_limit(asgi_server_factory):
    server = asgi_server_factory(RATELIMIT_ENABLE="true", RATE_USER="3/min")
    worker = WorkerFactory()
    shifts = [ShiftFactory(starts_at=start_hours(50 + 3 * i), ends_at=start_hours(51 + 3 * i)) for i in range(4)]

    answers = [answer(server, worker.user, f"/api/v1/shifts/{s.pk}/claim/", on_loop=True) for s in shifts]

    assert [status for status, _, _ in answers] == [201, 201, 201, 429]
    assert answers[3][1]["code"] == "rate_limited"
    assert ShiftClaim.objects.filter(worker=worker, status="active").count() == 3


def test_suspended_worker_claiming_an_unknown_shift_is_told_they_are_not_approved(asgi_server):
    worker = WorkerFactory(status="suspended")

    on_loop = answer(asgi_server, worker.user, "/api/v1/shifts/987654321/claim/", on_loop=True)
    by_view = answer(asgi_server, worker.user, "/api/v1/shifts/987654321/claim/", on_loop=False)

    assert on_loop[:2] == by_view[:2]
    assert (on_loop[0], on_loop[1]["code"]) == (403, "worker_not_approved")


def test_claim_asking_for_html_is_refused_with_406_and_takes_no_seat(asgi_server):
    worker = WorkerFactory()
    shift = ShiftFactory()

    response = httpx.post(f"{asgi_server.url}/api/v1/shifts/{shift.pk}/claim/", timeout=10,
                          headers={"Authorization": f"Token {token_for(worker.user)}", "Accept": "text/html"})

    assert (response.status_code, response.json()["code"]) == (406, "not_acceptable")
    assert not ShiftClaim.objects.filter(worker=worker).exists()


def test_waitlist_join_racing_an_early_release_never_strands_the_joiner(asgi_server):
    """Whichever goes first, the joiner ends up holding the freed seat or is told it is not full —
    never waiting for a shift with a free seat."""
    for _ in range(6):
        starts = start_hours(20)
        shift = ShiftFactory(capacity=1, starts_at=starts, ends_at=starts + dt.timedelta(hours=2))
        holder = ShiftClaimFactory(shift=shift).worker
        joiner = WorkerFactory()
        headers = [{"Authorization": f"Token {token_for(person.user)}"} for person in (holder, joiner)]

        with ThreadPoolExecutor(2) as pool:
            release = pool.submit(httpx.post, f"{asgi_server.url}/api/v1/shifts/{shift.pk}/release/",
                                  headers=headers[0], timeout=30)
            join = pool.submit(httpx.post, f"{asgi_server.url}/api/v1/shifts/{shift.pk}/waitlist/",
                               headers=headers[1], timeout=30)
            release, join = release.result(), join.result()

        assert release.status_code == 200
        entry = ShiftWaitlistEntry.objects.filter(shift=shift, worker=joiner).first()
        seats_taken = Shift.objects.get(pk=shift.pk).seats_taken
        if join.status_code == 201:
            assert entry.status == "promoted"
            assert ShiftClaim.objects.get(shift=shift, status="active").worker_id == joiner.pk
            assert seats_taken == 1
        else:
            assert (join.status_code, join.json()["code"], entry) == (409, "shift_not_full", None)
            assert seats_taken == 0


# --- Which requests the loop answers: the handler called in-process, on an event loop of the test ---


def on_loop_in_process(path: str, headers: list[tuple[bytes, bytes]], host: bytes = b"testserver",
                       ) -> tuple[bool, list[dict]]:
    """Offer a POST to `seat_action_on_loop`; whether it answered, and what it sent."""
    from marketplace.async_db import async_pools_close
    from workers.api import seat_action_on_loop

    async def offer() -> tuple[bool, list[dict]]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": path, "scheme": "http", "client": ("127.0.0.1", 40000),
                 "headers": [(b"host", host), *headers]}
        try:
            return await seat_action_on_loop(scope, send), sent
        finally:
            await async_pools_close()

    return asyncio.run(offer())


def test_loop_answers_a_token_claim_and_release_itself():
    worker = WorkerFactory()
    shift = ShiftFactory()
    auth = (b"authorization", f"Token {token_for(worker.user)}".encode())

    claimed, claim_sent = on_loop_in_process(f"/api/v1/shifts/{shift.pk}/claim/", [auth])
    full, full_sent = on_loop_in_process(f"/api/v1/shifts/{ShiftClaimFactory(shift__capacity=1).shift_id}/claim/",
                                         [auth])
    released, release_sent = on_loop_in_process(f"/api/v1/shifts/{shift.pk}/release/", [auth])

    assert (claimed, claim_sent[0]["status"]) == (True, 201)
    assert (full, full_sent[0]["status"]) == (True, 409)
    assert (released, release_sent[0]["status"]) == (True, 200)
    assert ShiftClaim.objects.get(shift=shift, worker=worker).status == "released"


@pytest.mark.parametrize("case", ["late_release", "nothing_to_release", "staff_token", "bad_token", "html_accept",
                                  "json_body", "session_only", "foreign_host"])
def test_loop_leaves_to_the_view_what_it_does_not_answer(case):
    worker = WorkerFactory()
    starts = start_hours(1 if case == "late_release" else 30)
    shift = ShiftFactory(starts_at=starts, ends_at=starts + dt.timedelta(hours=2))
    if case == "late_release":
        ShiftClaimFactory(shift=shift, worker=worker)
    user = StaffFactory() if case == "staff_token" else worker.user
    key = "not-a-token" if case == "bad_token" else token_for(user)
    headers = [] if case == "session_only" else [(b"authorization", f"Token {key}".encode())]
    headers += {"html_accept": [(b"accept", b"text/html")], "json_body": [(b"content-length", b"2")]}.get(case, [])
    host = b"evil.example.com" if case == "foreign_host" else b"testserver"
    action = "release" if case in ("late_release", "nothing_to_release") else "claim"

    handled, sent = on_loop_in_process(f"/api/v1/shifts/{shift.pk}/{action}/", headers, host)

    assert (handled, sent) == (False, [])
    if case == "late_release":
        assert ShiftClaim.objects.get(shift=shift, worker=worker).status == "active"
    else:
        assert not ShiftClaim.objects.filter(shift=shift).exists()


def test_production_settings_install_the_loop_handler():
    """The handler stands down for middleware it was not checked against; a change to the middleware
    must come with a look at `send_json` and `AUDITED_MIDDLEWARE`, not silently send every claim to
    the view."""
    from marketplace.asgi import loop_handlers
    from workers.api import seat_action_on_loop

    assert loop_handlers == [seat_action_on_loop]

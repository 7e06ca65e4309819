"""Creating, editing, cancelling, listing and reading shifts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from workers.models import Shift, ShiftClaim, ShiftEvent, WorkerNotice

pytestmark = pytest.mark.usefixtures("seed_data")


def iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def shift_body(in_hours, **overrides) -> dict:
    start = in_hours(24)
    body = {"starts_at": iso(start), "ends_at": iso(start + dt.timedelta(hours=4)), "capacity": 5, "language": "en",
            "skills": ["payments"], "rate_multiplier": "1.25"}
    body.update(overrides)
    return body


def test_ops_creates_shift(ops_client, ops_user, in_hours):
    request = shift_body(in_hours)
    response = ops_client.post("/api/v1/shifts/", request, format="json")

    assert response.status_code == 201
    body = response.json()
    shift = Shift.objects.get()
    assert body["id"] == shift.pk
    assert body["starts_at"] == request["starts_at"]
    assert body["ends_at"] == request["ends_at"]
    assert (body["capacity"], body["seats_taken"], body["seats_left"]) == (5, 0, 5)
    assert (body["language"], body["skills"], body["status"]) == ("en", ["payments"], "published")
    assert body["rate_multiplier"] == "1.25"
    assert body["max_rate_multiplier"] == "1.25"
    assert shift.created_by == ops_user
    assert ShiftEvent.objects.get(shift=shift).kind == "created"


def test_create_with_surge_cap(ops_client, in_hours):
    response = ops_client.post("/api/v1/shifts/", shift_body(in_hours, max_rate_multiplier="1.75"), format="json")

    assert response.status_code == 201
    assert response.json()["max_rate_multiplier"] == "1.75"


def test_start_up_to_five_minutes_in_the_past_is_accepted(ops_client):
    start = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=4)
    body = {"starts_at": iso(start), "ends_at": iso(start + dt.timedelta(hours=1)), "capacity": 1,
            "language": "en", "skills": [], "rate_multiplier": "1.00"}

    assert ops_client.post("/api/v1/shifts/", body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"starts_at": "-6min"}, "starts_at"),
        ({"ends_at": "+14min"}, "ends_at"),
        ({"ends_at": "+12h1min"}, "ends_at"),
        ({"ends_at": "-1h"}, "ends_at"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 1001}, "capacity"),
        ({"capacity": "many"}, "capacity"),
        ({"language": "english"}, "language"),
        ({"language": "zz"}, "language"),
        ({"skills": ["juggling"]}, "skills"),
        ({"rate_multiplier": "abc"}, "rate_multiplier"),
        ({"rate_multiplier": "1.255"}, "rate_multiplier"),
        ({"rate_multiplier": "0"}, "rate_multiplier"),
        ({"rate_multiplier": "100"}, "rate_multiplier"),
        ({"max_rate_multiplier": "1.00"}, "max_rate_multiplier"),
        ({"starts_at": "tomorrow"}, "starts_at"),
    ],
)
def test_create_refuses_invalid_field(ops_client, in_hours, overrides, field):
    body = shift_body(in_hours)
    start = dt.datetime.fromisoformat(body["starts_at"])
    relative = {"-6min": timezone.now() - dt.timedelta(minutes=6), "+14min": start + dt.timedelta(minutes=14),
                "+12h1min": start + dt.timedelta(hours=12, minutes=1), "-1h": start - dt.timedelta(hours=1)}
    for name, value in overrides.items():
        body[name] = iso(relative[value]) if isinstance(value, str) and value in relative else value
    if field == "starts_at" and overrides[field] == "-6min":
        body["ends_at"] = iso(relative["-6min"] + dt.timedelta(hours=1))

    response = ops_client.post("/api/v1/shifts/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == [field]
    assert not Shift.objects.exists()


def test_only_ops_create_shifts(worker_client, finance_client, api_client, in_hours):
    assert worker_client.post("/api/v1/shifts/", shift_body(in_hours), format="json").status_code == 403
    assert finance_client.post("/api/v1/shifts/", shift_body(in_hours), format="json").status_code == 403
    assert api_client.post("/api/v1/shifts/", shift_body(in_hours), format="json").status_code == 401
    assert not Shift.objects.exists()


def test_worker_sees_only_shifts_they_are_eligible_for(client_for, worker_factory, shift_factory, in_hours):
    worker = worker_factory(languages=["en"], skills=["payments"])
    plain = shift_factory()
    with_skill = shift_factory(skills=["payments"])
    shift_factory(skills=["payments", "disputes"])
    shift_factory(language="de")
    shift_factory(status="cancelled")
    shift_factory(starts_at=in_hours(-3), ends_at=in_hours(-1))

    response = client_for(worker.user).get("/api/v1/shifts/")

    assert response.status_code == 200
    assert [s["id"] for s in response.json()["results"]] == [plain.pk, with_skill.pk]
    assert response.json()["count"] == 2


def test_ops_see_every_shift(ops_client, shift_factory, in_hours):
    shifts = [shift_factory(), shift_factory(language="de"), shift_factory(status="cancelled")]

    response = ops_client.get("/api/v1/shifts/")

    assert sorted(s["id"] for s in response.json()["results"]) == sorted(s.pk for s in shifts)


def test_shift_detail_hidden_from_ineligible_worker(client_for, worker_factory, shift_factory, ops_client):
    worker = worker_factory(languages=["en"])
    german = shift_factory(language="de")

    assert client_for(worker.user).get(f"/api/v1/shifts/{german.pk}/").status_code == 404
    assert ops_client.get(f"/api/v1/shifts/{german.pk}/").json()["seats_taken"] == 0
    assert ops_client.get("/api/v1/shifts/999999/").status_code == 404


def test_shift_detail_shows_seats_taken(worker_client, shift_factory, claim_factory):
    shift = shift_factory(capacity=3)
    claim_factory(shift=shift)

    body = worker_client.get(f"/api/v1/shifts/{shift.pk}/").json()

    assert (body["seats_taken"], body["seats_left"], body["my_claim"]) == (1, 2, None)


def test_list_filters_by_range_language_and_availability(ops_client, shift_factory, claim_factory):
    base = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=2)
    day1 = shift_factory(starts_at=base + dt.timedelta(hours=9), ends_at=base + dt.timedelta(hours=11))
    day2 = shift_factory(starts_at=base + dt.timedelta(days=1, hours=9), ends_at=base + dt.timedelta(days=1, hours=11),
                         capacity=1)
    german = shift_factory(starts_at=base + dt.timedelta(days=1, hours=12),
                           ends_at=base + dt.timedelta(days=1, hours=13), language="de")
    claim_factory(shift=day2)
    d1, d2 = base.date().isoformat(), (base.date() + dt.timedelta(days=1)).isoformat()

    def ids(query):
        response = ops_client.get(f"/api/v1/shifts/?{query}")
        assert response.status_code == 200, response.json()
        return [s["id"] for s in response.json()["results"]]

    assert ids(f"from={d1}&to={d1}") == [day1.pk]
    assert ids(f"from={d2}") == [day2.pk, german.pk]
    assert ids(f"from={d1}&to={d2}&language=en") == [day1.pk, day2.pk]
    assert ids(f"from={d1}&available=true") == [day1.pk, german.pk]
    start = (base + dt.timedelta(hours=9)).isoformat().replace("+00:00", "Z")
    assert ids(f"from={start}&to={d1}") == [day1.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13-01", "from"),
        ("from=yesterday", "from"),
        ("to=2026-02-30", "to"),
        ("from=2030-01-02&to=2030-01-01", "to"),
        ("language=klingon", "language"),
        ("available=maybe", "available"),
    ],
)
def test_list_refuses_malformed_query(ops_client, worker_client, query, field):
    for client in (ops_client, worker_client):
        response = client.get(f"/api/v1/shifts/?{query}")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert list(response.json()["fields"]) == [field]


def test_list_accepts_extreme_dates(ops_client):
    response = ops_client.get("/api/v1/shifts/?from=0001-01-01&to=9999-12-31")

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_priority_access_hides_new_shifts_from_unreliable_workers(client_for, worker_factory, shift_factory,
                                                                   in_hours):
    reliable = worker_factory()
    unreliable = worker_factory(reliability_score=Decimal("60"))
    tomorrow = shift_factory(starts_at=in_hours(30), ends_at=in_hours(32))
    soon = shift_factory(starts_at=in_hours(6), ends_at=in_hours(8))
    Shift.objects.filter(pk=tomorrow.pk).update(published_at=timezone.now() - dt.timedelta(hours=1))

    assert [s["id"] for s in client_for(reliable.user).get("/api/v1/shifts/").json()["results"]] == [
        soon.pk, tomorrow.pk]
    assert [s["id"] for s in client_for(unreliable.user).get("/api/v1/shifts/").json()["results"]] == [soon.pk]
    refused = client_for(unreliable.user).post(f"/api/v1/shifts/{tomorrow.pk}/claim/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_eligible"

    Shift.objects.filter(pk=tomorrow.pk).update(published_at=timezone.now() - dt.timedelta(hours=13))
    assert [s["id"] for s in client_for(unreliable.user).get("/api/v1/shifts/").json()["results"]] == [
        soon.pk, tomorrow.pk]


def test_ops_edit_shift_before_any_claim(ops_client, shift_factory, in_hours):
    shift = shift_factory(capacity=2)

    response = ops_client.patch(f"/api/v1/shifts/{shift.pk}/", {"capacity": 4, "rate_multiplier": "1.50"},
                                format="json")

    assert response.status_code == 200
    assert (response.json()["capacity"], response.json()["rate_multiplier"]) == (4, "1.50")
    assert ShiftEvent.objects.filter(shift=shift, kind="edited").count() == 1


def test_edit_refused_once_claimed(ops_client, shift_factory, claim_factory):
    shift = shift_factory(capacity=2)
    claim_factory(shift=shift)

    response = ops_client.patch(f"/api/v1/shifts/{shift.pk}/", {"capacity": 4}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "shift_has_claims"
    shift.refresh_from_db()
    assert shift.capacity == 2


def test_edit_validates_like_create(ops_client, shift_factory):
    shift = shift_factory(capacity=2)

    response = ops_client.patch(f"/api/v1/shifts/{shift.pk}/", {"capacity": 0}, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["capacity"]


def test_cancel_shift_tells_claimers(ops_client, shift_factory, claim_factory, client_for):
    shift = shift_factory(capacity=2)
    claim = claim_factory(shift=shift)

    response = ops_client.post(f"/api/v1/shifts/{shift.pk}/cancel/", {"reason": "Low demand"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["seats_taken"]) == ("cancelled", 0)
    claim.refresh_from_db()
    assert claim.status == "cancelled"
    notice = WorkerNotice.objects.get(worker=claim.worker)
    assert notice.kind == "shift_cancelled"
    assert "Low demand" in notice.message
    notices = client_for(claim.worker.user).get("/api/v1/workers/me/notices/").json()["results"]
    assert [n["kind"] for n in notices] == ["shift_cancelled"]
    again = ops_client.post(f"/api/v1/shifts/{shift.pk}/cancel/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"
    assert ShiftClaim.objects.get(pk=claim.pk).status == "cancelled"


def test_cancelled_shift_cannot_be_claimed(worker_client, shift_factory):
    shift = shift_factory(status="cancelled")

    response = worker_client.post(f"/api/v1/shifts/{shift.pk}/claim/")

    assert response.status_code == 409
    assert response.json()["code"] == "shift_cancelled"


def test_shift_list_query_count_is_flat(ops_client, shift_factory, django_assert_max_num_queries):
    for _ in range(15):
        shift_factory(skills=["payments"])

    with django_assert_max_num_queries(6):
        response = ops_client.get("/api/v1/shifts/")
    assert response.json()["count"] == 15


def test_create_without_multiplier_pays_the_base_rate(ops_client, in_hours):
    request = shift_body(in_hours)
    del request["rate_multiplier"]

    response = ops_client.post("/api/v1/shifts/", request, format="json")

    assert response.status_code == 201
    assert (response.json()["rate_multiplier"], response.json()["max_rate_multiplier"]) == ("1.00", "1.00")
    assert str(Shift.objects.get().rate_multiplier) == "1.00"


@pytest.mark.parametrize("value", ["NaN", "sNaN", "-NaN", "Infinity", "-inf"])
@pytest.mark.parametrize("field", ["rate_multiplier", "max_rate_multiplier"])
def test_create_refuses_a_multiplier_that_is_not_a_number(ops_client, in_hours, field, value):
    response = ops_client.post("/api/v1/shifts/", shift_body(in_hours, **{field: value}), format="json")

    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["fields"])) == ("invalid", [field])
    assert not Shift.objects.exists()


def test_list_writes_each_shift_as_its_detail_does(client_for, ops_client, worker_factory, shift_factory,
                                                   claim_factory):
    # The list is written by PostgreSQL, the detail by `ShiftOutput`: a shift reads the same in both.
    worker = worker_factory(languages=["en"], skills=["general", "payments"])
    start = timezone.now().replace(microsecond=123456) + dt.timedelta(days=2)
    shifts = [
        shift_factory(starts_at=start, ends_at=start + dt.timedelta(hours=2, microseconds=7), skills=["payments"]),
        shift_factory(starts_at=start - dt.timedelta(days=1), skills=["payments", "general"],
                      rate_multiplier=Decimal("1.50"), max_rate_multiplier=Decimal("2.00")),
        shift_factory(capacity=1),
    ]
    ShiftEvent.objects.create(shift=shifts[1], kind="rate_changed", data={"from": "1.00", "to": "1.50"})
    ShiftEvent.objects.create(shift=shifts[1], kind="rate_changed", data={"from": "1.50", "to": "1.75"})
    claim = claim_factory(shift=shifts[0], worker=worker)
    claim_factory(shift=shifts[2])
    shifts[2].waitlist.create(worker=worker, status="waiting")

    for client in (client_for(worker.user), ops_client):
        listed = client.get("/api/v1/shifts/").json()["results"]

        assert [s["id"] for s in listed] == [shifts[2].pk, shifts[1].pk, shifts[0].pk]
        assert listed == [client.get(f"/api/v1/shifts/{s['id']}/").json() for s in listed]
    worker_view = client_for(worker.user).get("/api/v1/shifts/").json()["results"]
    assert [(s["my_claim"], s["waitlisted"]) for s in worker_view] == [(None, True), (None, False), (claim.pk, False)]
    assert worker_view[1]["rate_changes"][1]["rate_to"] == "1.75"
    assert worker_view[2]["starts_at"].endswith(".123456Z")

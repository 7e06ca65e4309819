import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.test import override_settings
from rest_framework.authtoken.models import Token

from tests.factories.workers import WorkerFactory

pytestmark = pytest.mark.django_db


def _attempt(api_client):
    return api_client.post("/api/v1/auth/token/", {"username": "nobody", "password": "guess"}, format="json")


def test_token_endpoint_is_rate_limited_per_ip_with_429_in_error_shape(api_client):
    statuses = [_attempt(api_client).status_code for _ in range(10)]

    eleventh = _attempt(api_client)

    assert statuses == [400] * 10
    assert eleventh.status_code == 429
    body = eleventh.json()
    assert body["code"] == "rate_limited"
    assert body["detail"].startswith("Too many requests; try again in ")
    assert int(eleventh["Retry-After"]) > 0


@override_settings(RATELIMIT_ENABLE=False)
def test_ratelimit_enable_false_lifts_the_limit(api_client):
    statuses = {_attempt(api_client).status_code for _ in range(15)}

    assert statuses == {400}


# --- Against a running server: real concurrent clients, the limiter shared through Redis ---------


def _burst(calls):
    """Run the calls at once; their status codes, sorted."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return sorted(pool.map(lambda call: call(), calls))


def _get_me(server, token):
    return lambda: httpx.get(f"{server.url}/api/v1/workers/me/", headers={"Authorization": f"Token {token}"},
                             timeout=30).status_code


def _sign_in(server, address):
    return lambda: httpx.post(f"{server.url}/api/v1/auth/token/", json={"username": "nobody", "password": "guess"},
                              headers={"X-Forwarded-For": address}, timeout=30).status_code


@pytest.mark.django_db(transaction=True)
def test_a_burst_lets_exactly_the_limit_through_per_user(asgi_server_factory):
    server = asgi_server_factory(RATELIMIT_ENABLE="true", RATE_USER="5/min")
    first, second = (Token.objects.create(user=WorkerFactory().user).key for _ in range(2))

    burst = _burst([_get_me(server, first) for _ in range(12)])
    other_user = _burst([_get_me(server, second) for _ in range(7)])

    assert burst == [200] * 5 + [429] * 7
    assert other_user == [200] * 5 + [429] * 2


@pytest.mark.django_db(transaction=True)
def test_a_burst_lets_exactly_the_limit_through_per_ip(asgi_server_factory):
    """Behind one trusted proxy, the client is the last X-Forwarded-For hop."""
    server = asgi_server_factory(RATELIMIT_ENABLE="true", TRUSTED_PROXY_COUNT="1")

    burst = _burst([_sign_in(server, "203.0.113.7") for _ in range(14)])
    other_address = _burst([_sign_in(server, "198.51.100.20") for _ in range(11)])

    assert burst == [400] * 10 + [429] * 4  # auth_token: 10/min per client IP
    assert other_address == [400] * 10 + [429]


@pytest.mark.django_db(transaction=True)
def test_a_forged_forwarded_for_does_not_buy_more_attempts(asgi_server_factory):
    """With no trusted proxy (the default) the header is ignored: a fresh address each time is
    still the same client."""
    server = asgi_server_factory(RATELIMIT_ENABLE="true")

    statuses = _burst([_sign_in(server, f"203.0.113.{n}") for n in range(14)])

    assert statuses == [400] * 10 + [429] * 4


@pytest.mark.django_db(transaction=True)
def test_the_window_slides_no_burst_passes_at_a_boundary(asgi_server_factory):
    """3 a second: a fixed window would let 3 more through as soon as a new second starts; a
    sliding window admits the next request only when the first has left the window."""
    server = asgi_server_factory(RATELIMIT_ENABLE="true", RATE_USER="3/s")
    token = Token.objects.create(user=WorkerFactory().user).key
    call = _get_me(server, token)

    began = time.monotonic()
    first = _burst([call for _ in range(3)])
    time.sleep(max(0.0, began + 0.6 - time.monotonic()))
    within = _burst([call for _ in range(3)])
    refused = httpx.get(f"{server.url}/api/v1/workers/me/", headers={"Authorization": f"Token {token}"}, timeout=30)
    time.sleep(max(0.0, began + 1.3 - time.monotonic()))
    after = _burst([call for _ in range(4)])

    assert first == [200] * 3
    assert within == [429] * 3
    assert refused.json()["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "1"
    assert after == [200] * 3 + [429]

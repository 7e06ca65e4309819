import pytest
from django.test import override_settings

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

import pytest


@pytest.mark.django_db
def test_healthz_reports_every_dependency_ok(api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "channel_layer": "ok", "broker": "ok"},
    }

import pytest

pytestmark = pytest.mark.django_db


def test_validation_error_names_the_fields(api_client):
    response = api_client.post("/api/v1/auth/token/", {"username": "someone"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "detail": "Some fields are not valid: password.",
        "fields": {"password": ["This field is required."]},
    }


def test_malformed_json_is_400_not_500(api_client):
    response = api_client.generic(
        "POST", "/api/v1/auth/token/", '{"username": "a", "password":', content_type="application/json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "malformed_request"
    assert body["detail"].startswith("JSON parse error")


def test_wrong_content_type_is_415_in_error_shape(api_client):
    response = api_client.generic("POST", "/api/v1/auth/token/", "username=a", content_type="text/plain")

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_unauthenticated_is_401(api_client):
    response = api_client.get("/api/v1/auth/me/")

    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
    }
    assert response["WWW-Authenticate"] == "Token"


def test_forbidden_is_403_for_a_worker_on_an_ops_endpoint(worker_client):
    response = worker_client.get("/api/v1/workers/")

    assert response.status_code == 403
    assert response.json()["code"] in {"permission_denied", "not_allowed"}
    assert set(response.json()) == {"code", "detail"}


def test_unknown_api_path_is_json_404(api_client):
    response = api_client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No such endpoint."}


def test_method_not_allowed_is_405_in_error_shape(api_client):
    response = api_client.get("/api/v1/auth/token/")

    assert response.status_code == 405
    assert response.json() == {"code": "method_not_allowed", "detail": 'Method "GET" not allowed.'}


def test_schema_and_docs_are_public(api_client):
    schema = api_client.get("/api/v1/schema/")
    docs = api_client.get("/api/v1/docs/")

    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    assert b"/api/v1/auth/token/" in schema.content
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_path_answers_the_error_shape_in_every_mode(api_client, settings, debug):
    settings.DEBUG = debug

    response = api_client.get("/api/v1/no-such-endpoint/", HTTP_ACCEPT="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "detail": "No such endpoint."}

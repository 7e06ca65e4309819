"""The OpenAPI schema says what the endpoints answer: paginated lists and the error shape."""

from __future__ import annotations

import pytest

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def schema(api_client, db) -> dict:
    response = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict):
    for path, items in schema["paths"].items():
        for method, operation in items.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_every_list_is_the_paginated_object(schema):
    lists = {}
    for path, method, operation in operations(schema):
        ok = operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        assert ok.get("type") != "array", f"{method} {path} is described as a bare array"
        if "results" in ok.get("properties", {}):
            lists[path] = ok
    assert {"/api/v1/workers/", "/api/v1/shifts/", "/api/v1/shifts/mine/", "/api/v1/tickets/",
            "/api/v1/tickets/{id}/messages/", "/api/v1/payouts/", "/api/v1/payouts/earnings/",
            "/api/v1/workers/me/notices/", "/api/v1/shift-templates/"} <= set(lists)
    for path, ok in lists.items():
        assert set(ok["required"]) >= {"results", "next", "count"}, path
        assert ok["properties"]["results"]["type"] == "array", path


def test_every_operation_declares_its_errors_in_the_error_shape(schema):
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "detail"]
    for path, method, operation in operations(schema):
        expected = {"400", "401", "403", "404", "429"} | ({"409", "415"} if method != "get" else set())
        for status in expected:
            response = operation["responses"].get(status)
            assert response is not None, f"{method} {path} omits {status}"
            assert response["content"]["application/json"]["schema"] == ERROR_REF, f"{method} {path} {status}"


def test_csv_reports_declare_their_media_type(schema):
    for path in ("/api/v1/reports/payouts/", "/api/v1/reports/annual-earnings/", "/api/v1/reports/earnings/",
                 "/api/v1/reports/exports/{export_id}/download/"):
        assert "text/csv" in schema["paths"][path]["get"]["responses"]["200"]["content"], path

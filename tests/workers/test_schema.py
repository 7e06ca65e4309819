"""The OpenAPI schema documents the workers endpoints."""


def test_schema_lists_workers_and_shift_endpoints(api_client, db):
    response = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/v1/workers/applications/", "/api/v1/workers/{worker_id}/approve/", "/api/v1/shifts/",
                 "/api/v1/shifts/{shift_id}/claim/", "/api/v1/shifts/{shift_id}/check-in/", "/api/v1/shifts/mine/"):
        assert path in paths

"""What the OpenAPI schema says for every endpoint, in one place (a drf-spectacular postprocessing
hook, its public extension point), rather than restated on each view:

- a list (a `GET` answering an array) is the paginated object every list answers
  (`kernel.drf.Pagination`): `{"results": [...], "next", "previous", "count"}`;
- an optional query parameter may be given empty (`?status=`): DRF reads an empty optional value as
  an omitted one, as HTML forms send them, so the schema says so;
- the error responses an endpoint can give, each in the error shape `{"code", "detail"[, "fields"]}`:
  400 bad input (query or body), 401 not authenticated, 403 not allowed, 404 not found (also what the
  caller may not see), 429 rate limited, and for writes 409 conflict and 415 unsupported media type.
"""

from __future__ import annotations

from typing import Any

from kernel.drf import Pagination

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "detail"],
    "properties": {
        "code": {"type": "string", "description": "A stable snake_case code (API.md, each app's errors.py)."},
        "detail": {"type": "string", "description": "A human sentence."},
        "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                   "description": "For `invalid`: the fields at fault and what is wrong with each."},
    },
}

ERRORS_ANY = {
    "400": "Bad input: a malformed query, body or id (`invalid` names the fields; `malformed_request`).",
    "401": "Not authenticated (`not_authenticated`, `authentication_failed`).",
    "403": "Not allowed for the caller's role or state.",
    "404": "Not found, also for an object the caller may not see.",
    "429": "Rate limited (`rate_limited`); `Retry-After` says when to try again.",
}
ERRORS_WRITE = {
    "409": "Conflicts with the current state (e.g. `invalid_transition`).",
    "415": "The body is not JSON (`unsupported_media_type`).",
}
WRITES = ("post", "put", "patch", "delete")
EMPTY_QUERY_VALUE = {"type": "string", "enum": [""], "description": "Empty: as if omitted."}


def _json_schema(response: dict) -> dict | None:
    return response.get("content", {}).get("application/json", {}).get("schema")


def postprocess(result: dict, generator, request, public) -> dict:
    """`SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]`: paginated lists and error responses."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error_ref = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", *WRITES):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required") and "schema" in parameter:
                    parameter["schema"] = {"anyOf": [parameter["schema"], EMPTY_QUERY_VALUE]}
            responses = operation.setdefault("responses", {})
            ok = responses.get("200")
            schema = _json_schema(ok) if ok else None
            if method == "get" and schema is not None and schema.get("type") == "array":
                ok["content"]["application/json"]["schema"] = Pagination().get_paginated_response_schema(schema)
            errors = {**ERRORS_ANY, **(ERRORS_WRITE if method in WRITES else {})}
            for status, description in errors.items():
                responses.setdefault(status, {"description": description,
                                              "content": {"application/json": {"schema": error_ref}}})
    return result

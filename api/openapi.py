"""Finishing the OpenAPI document so that it matches what the app does: bearer auth on /v1,
and every error response described with the one error body, including the errors every
authenticated endpoint can give (401, 403, 404, 429) and 413 for any request body."""

from __future__ import annotations

from typing import Any

from api.errors import ERROR_SCHEMA

ERROR_REF = {"$ref": "#/components/schemas/Error"}
_COMMON = {
    "401": "Missing, unknown or revoked token",
    "403": "The token may not call this endpoint",
    "404": "Unknown organization (also what a key of another organization gets)",
    "429": "Too many requests for this token (see Retry-After)",
}
_METHODS = ("get", "post", "put", "patch", "delete")


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _operation_id(method: str, generated: str) -> str:
    """`post_admin_grant_credits_view` -> `grant_credits` (APIFlask prefixes method and blueprint)."""
    blueprints = (
        "admin",
        "organization",
        "subscription",
        "purchases",
        "health",
        "ingest",
        "service_keys",
        "audit",
    )
    for blueprint in blueprints:
        generated = generated.removeprefix(f"{method}_{blueprint}_")
    return generated.removesuffix("_view")


def finish_spec(
    spec: dict[str, Any],
    idempotent_creates: set[tuple[str, str]],
    request_bodies: dict[tuple[str, str], dict[str, Any]],
    also_200: dict[tuple[str, str], str],
) -> dict[str, Any]:
    """`request_bodies`: bodies of operations that read their own (several media types);
    `also_200`: operations answering 200 as well as 202, with the same body."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for unused in ("HTTPError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            if (path, method) in request_bodies:
                operation["requestBody"] = request_bodies[(path, method)]
            if (path, method) in also_200 and "202" in responses:
                responses["200"] = {**responses["202"], "description": also_200[(path, method)]}
            operation["operationId"] = _operation_id(method, operation.get("operationId", ""))
            if path.startswith("/v1/"):
                operation["security"] = [{"bearer": []}]
                for code, description in _COMMON.items():
                    responses.setdefault(code, {"description": description})
                responses.setdefault("400", {"description": "Validation error (names the field)"})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "Validation error (names the field)"})
                responses.setdefault("413", {"description": "The body is larger than 1 MB"})
            if (path, method) in idempotent_creates and "201" in responses:
                responses["200"] = {**responses["201"], "description": "It already existed; unchanged"}
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    responses[code] = _error_response(
                        response.get("description") or _COMMON.get(code, "Error")
                    )
    return spec

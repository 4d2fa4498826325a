"""The OpenAPI document every service serves, completed with the errors every operation may answer:
RFC 9457 problem+json with one `Problem` schema, so that a client generated from it handles them.
Done once here, after the routes are built, rather than on each of them."""

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.responses import Response

from shared.errors import PROBLEM_JSON, problem_response

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem; some carry more members (`errors` of a 422, `checks` of a 503).",
    "properties": {
        "type": {"type": "string", "description": "`about:blank`: the status says what kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, for a person"},
        "errors": {
            "type": "array",
            "description": "Of a 422: each refused field, where (`loc`) and why",
            "items": {"type": "object", "additionalProperties": True},
        },
    },
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
}
RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
RATE_LIMIT_HEADERS = {
    "Retry-After": RETRY_AFTER,
    "RateLimit-Limit": {"description": "Requests allowed in the window", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in the window", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until the window resets", "schema": {"type": "integer"}},
    "RateLimit-Policy": {"description": "The limit and its window, e.g. `60;w=60`", "schema": {"type": "string"}},
}
# Every operation may answer these (the request guard, validation, the database away) ...
COMMON = {
    "400": "The request cannot be read (a malformed header or body)",
    "404": "No such thing, or none the caller may see",
    "409": "The current state does not allow this",
    "412": "The thing changed since the caller read it (`If-Match`)",
    "413": "The body is larger than the limit (1 MiB; the CSV import 50 MiB)",
    "422": "The request breaks a rule of its schema or of the domain; `errors` lists the fields",
    "428": "The caller must say which version it read (`If-Match`)",
    "429": "Too many requests from this caller or address; wait `Retry-After` seconds",
    "503": "The database or the broker is away; nothing was changed, try again after `Retry-After`",
}
# ... and every operation but the open ones (no token: the public directory, health, metrics,
# AsyncAPI) these too; the calendar feeds take their token in the query, not as a scheme.
AUTHENTICATED = {
    "401": "No valid bearer token (or, for a signature, one signed in too long ago)",
    "403": "The token's role or scope does not allow this",
}


def documented_problem(description: str, status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == "429":
        response["headers"] = RATE_LIMIT_HEADERS
    elif status == "503":
        response["headers"] = {"Retry-After": RETRY_AFTER}
    elif status == "401":
        response["headers"] = {"WWW-Authenticate": {"description": "`Bearer`, or RFC 9470's step-up challenge",
                                                    "schema": {"type": "string"}}}  # fmt: skip
    return response


OPEN = frozenset({"/healthz", "/readyz", "/metrics", "/asyncapi.json"})


def open_(path: str, operation: dict[str, Any]) -> bool:
    return "security" not in operation and (path in OPEN or path.startswith("/v1/public/"))


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the Problem schema and every operation's error answers to `document` (in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for schema in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, answered as a Problem instead
        schemas.pop(schema, None)
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = COMMON | ({} if open_(path, operation) else AUTHENTICATED)
            for status, description in errors.items():
                documented = operation["responses"].get(status, {})
                operation["responses"][status] = documented_problem(documented.get("description", description), status)
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document (built once, on first request, as FastAPI does)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                )  # fmt: skip
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    paths: list[tuple[re.Pattern[str], str]] = []

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        """`Allow` lists every method of the path, as documented: Starlette names only those of
        the first route that matched it (FastAPI makes one route per method)."""
        if not paths:
            # literal paths first: /v1/materials/import before /v1/materials/{material_id}
            for template, item in sorted(openapi()["paths"].items(), key=lambda p: p[0].count("{")):
                methods = ", ".join(sorted(m.upper() for m in item if m != "parameters"))
                paths.append((re.compile(re.sub(r"\{[^/]+\}", "[^/]+", template)), methods))
        allowed = next((methods for pattern, methods in paths if pattern.fullmatch(request.url.path)), "")
        detail = exc.detail if isinstance(exc, HTTPException) else "Method Not Allowed"
        return problem_response(405, str(detail), headers={"Allow": allowed})

    app.add_exception_handler(405, method_not_allowed)

"""RFC 9457 problem+json for every error, validation errors included; never a 500 for bad input."""

import logging
from http import HTTPStatus
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.database import is_outage
from shared.problems import (
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientUserAuthentication,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    Problem,
    Unauthorized,
    Unprocessable,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


# The plain refusals of shared/problems.py, importable from here too, and the status of each.
__all__ = [
    "BadRequest", "Conflict", "Forbidden", "InsufficientUserAuthentication", "NotFound", "PreconditionFailed",
    "PreconditionRequired", "Problem", "Unauthorized", "Unprocessable", "challenge", "install_problem_handlers",
    "problem_response", "status_of",
]  # fmt: skip
STATUS: dict[type[Problem], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    Unprocessable: 422,
    PreconditionRequired: 428,
}


def status_of(problem: Problem) -> int:
    return next((STATUS[cls] for cls in type(problem).__mro__ if cls in STATUS), 400)


def challenge(problem: Problem) -> str:
    """The `WWW-Authenticate` of a 401: RFC 9470's step-up challenge, with the largest age of
    sign-in a signature accepts, when the caller must authenticate again; plain `Bearer` otherwise."""
    if isinstance(problem, InsufficientUserAuthentication):
        description = f"A signature needs an authentication at most {problem.max_age} seconds old"
        return (
            f'Bearer error="insufficient_user_authentication", error_description="{description}", '
            f"max_age={problem.max_age}"
        )
    return "Bearer"


def problem_response(
    status: int, detail: str, *, title: str | None = None, headers: dict[str, str] | None = None, **extensions: Any
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": challenge(exc)} if status == 401 else None
        return problem_response(status, exc.detail, title=exc.title, headers=headers, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem_response(422, f"Invalid request: {summary}", errors=errors)

    @app.exception_handler(ValidationError)
    async def _invalid_state(request: Request, exc: ValidationError) -> JSONResponse:
        # A model validated inside a handler (e.g. an entry merged with a patch) refused the result.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem_response(422, f"Invalid result: {summary}", errors=errors)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # A value the checks let through but the database cannot hold (an integer past 64 bits, a NUL
        # character in text): SQLSTATE class 22, "data exception", raised by PostgreSQL or by asyncpg.
        if isinstance(exc, DataError) or str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
            log.info("data error answered as 422: %s", exc.orig)
            return problem_response(422, "A value is out of range or malformed for its field; nothing was changed.")
        return await _unexpected(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # The database's constraints are the last line against races; a loser gets a 409, not a 500.
        log.info("integrity error answered as 409: %s", exc.orig)
        return problem_response(409, "The request conflicts with the current state (a concurrent change won).")

    # A refused or timed-out connection reaches the app unwrapped by the driver. Answered here, not
    # by the catch-all below: Starlette re-raises what reaches that one after answering, and uvicorn
    # then drops the client's kept-alive connection.
    @app.exception_handler(OSError)
    @app.exception_handler(TimeoutError)
    async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_outage(exc):
            log.warning("answered 503, a dependency is away: %s", exc)
            return problem_response(
                503, "The service cannot reach its database right now; nothing was changed. Try again shortly.",
                headers={"Retry-After": "5"},
            )  # fmt: skip
        log.exception("unhandled error")
        return problem_response(500, "An unexpected error occurred; it has been logged.")


def problem_detail(response: httpx.Response) -> str:
    """What a service's refusal says: the `detail` of its problem (RFC 9457), else its status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    return f"{response.reason_phrase or 'Error'} ({response.status_code})."

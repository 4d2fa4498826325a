"""Which errors mean "the database is away" (wait: 503, no dead letter) and which mean "this
request or event is wrong" (its own answer)."""

import asyncpg
import httpx
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared.database import is_outage


def wrapped(error: asyncpg.PostgresError) -> DBAPIError:
    """The error as SQLAlchemy's asyncpg dialect hands it to the service."""
    dbapi_error = AsyncAdapt_asyncpg_dbapi.Error(str(error))
    dbapi_error.sqlstate = error.sqlstate
    dbapi_error.__cause__ = error
    return DBAPIError.instance("SELECT 1", {}, dbapi_error, AsyncAdapt_asyncpg_dbapi.Error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.CannotConnectNowError("the database system is shutting down"),  # 57P03
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),  # 57P01
        asyncpg.ConnectionFailureError("connection failure"),  # 08006
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),  # 53300
    ],
    ids=lambda e: e.sqlstate,
)
def test_a_server_shutting_down_or_unreachable_is_an_outage(error):
    assert is_outage(error)
    assert is_outage(wrapped(error))


def test_connection_refused_is_an_outage():
    assert is_outage(ConnectionRefusedError(111, "Connect call failed"))


@pytest.mark.parametrize(
    "error",
    [asyncpg.UniqueViolationError("duplicate key"), asyncpg.NumericValueOutOfRangeError("out of range")],
    ids=lambda e: e.sqlstate,
)
def test_a_wrong_statement_is_not_an_outage(error):
    assert not is_outage(error)
    assert not is_outage(wrapped(error))
    assert not is_outage(IntegrityError("INSERT", {}, error))


async def test_the_api_answers_an_unreachable_database_with_503_and_keeps_the_connection():
    from fastapi import FastAPI

    from shared.errors import install_problem_handlers

    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/bookings")
    async def bookings() -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    # The transport raises whatever the app re-raises after answering, as uvicorn would log it and
    # drop the connection: answered and done is the only way through.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client:
        answer = await client.get("/bookings")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.headers["content-type"] == "application/problem+json"

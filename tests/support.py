"""Helpers the tests share: tokens, running services, waiting for events, reading the outbox."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from shared.auth import Role, issue_token
from shared.database import outbox
from shared.service import ServiceContext
from shared.settings import Settings

T = TypeVar("T")


class Tokens:
    """Authorization headers for each role of the design."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def headers(self, role: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.settings, role=role, **claims)}"}

    def admin(self) -> dict[str, str]:
        return self.headers(Role.ADMIN, sub="hub-operator")

    def developer(self, org_id: str = "ORG-1", sub: str = "dev-1") -> dict[str, str]:
        return self.headers(Role.DEVELOPER, org_id=org_id, sub=sub)

    def facility(self, *facility_ids: object, sub: str = "facility-user-1") -> dict[str, str]:
        return self.headers(Role.FACILITY, facility_ids=[str(f) for f in facility_ids], sub=sub)

    def regulator(self, authority: str = "DE-PEI", sub: str = "inspector-1") -> dict[str, str]:
        return self.headers(Role.REGULATOR, authority=authority, sub=sub)


@dataclass
class RunningService:
    name: str
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def context(self) -> ServiceContext:
        return self.app.state.context

    async def outbox_events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Envelopes this service has emitted (published or not), oldest first."""
        query = sa.select(outbox.c.envelope).order_by(outbox.c.seq)
        if event_type:
            query = query.where(outbox.c.type == event_type)
        async with self.context.db.engine.connect() as conn:
            return [row.envelope for row in await conn.execute(query)]

    async def sql(self, statement: str, **params: Any) -> list[sa.Row]:
        async with self.context.db.engine.begin() as conn:
            result = await conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []


async def eventually(probe: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Await `probe` until it returns without AssertionError (and a truthy value), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await probe()
            if result is not None and result is not False:
                return result
            failure: Exception = AssertionError(f"probe returned {result!r}")
        except AssertionError as exc:
            failure = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {failure}") from failure
        await asyncio.sleep(interval)

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


async def read_topic(bootstrap_servers: str, topic: str, timeout: float = 5.0) -> list:
    """Every record now on `topic`, in partition then offset order, read without a group."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a topic created moments ago
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: dict = {tp: [] for tp in partitions}
        deadline = time.monotonic() + timeout

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind() and time.monotonic() < deadline:
            for tp, batch in (await consumer.getmany(timeout_ms=200)).items():
                records[tp].extend(batch)
        return [r for tp in partitions for r in records[tp]]
    finally:
        await consumer.stop()

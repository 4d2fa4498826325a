"""The audit of the event histories (`gmp-hub audit`): each service's chain head published as an
anchor outside its database, and a chain verified against itself and against anchors.

An anchor is an ordinary event, `gmphub.<service>.audit.anchored.v1` (each service declares it in
its events.py on `ChainAnchored`), written through the outbox like every other: so it is itself
chained, published to the service's topic, and kept by every subscriber and by whoever saves it (a
regulator's JSON-lines file). A chain whose every hash was recomputed after a change is internally
consistent; the anchors published before the change still hold the old hashes, and say where.
"""

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncSession

from shared.chain import HEAD, Anchor, Break, ChainRow, ChainWalk, extend_chain
from shared.database import Database, UnitOfWork, driver_dsn
from shared.events import ChainAnchored, registry, topic_of
from shared.kafka import client_options
from shared.observability import log_fields
from shared.settings import Settings

log = logging.getLogger(__name__)

ANCHOR_LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtext('gmphub-audit-anchor'))")
# A service's outbox holds only its own events: its anchors are the rows of ix_outbox_anchors.
LAST_ANCHOR = sa.text(
    "SELECT created_at, chain_seq FROM outbox WHERE type LIKE 'gmphub.%.audit.anchored.v1' ORDER BY seq DESC LIMIT 1"
)
FIRST_CHAINED = sa.text("SELECT created_at FROM outbox WHERE chain_seq = 1")
CHAIN_ROWS = (
    "SELECT chain_seq, seq, event_id::text, envelope::text, chain_hash FROM outbox"
    " WHERE chain_seq IS NOT NULL ORDER BY chain_seq"
)
UNCHAINED_COUNT = "SELECT count(*) FROM outbox WHERE chain_seq IS NULL"
ANCHOR_CHECK_SECONDS = 60.0  # how often a service looks whether an anchor is due
# The chain is extended at most this often (at once again while a round's worth waits): four
# statements a round, once a second instead of for every few events (holds: 22 % of their throughput).
CHAIN_EVERY_SECONDS = 1.0


def anchor_type(service: str) -> str:
    return f"gmphub.{service}.audit.anchored.v1"


async def anchor(uow: UnitOfWork, service: str, *, due_after: float | None = None) -> ChainAnchored | None:
    """Chain what has committed and emit the chain head as the service's anchor event in `uow` (the
    caller commits). With `due_after` (seconds), only when the chain grew since the last anchor and
    that long has passed since it (before the first anchor: since the chain began). None when
    nothing was anchored. Replicas anchor one at a time (an advisory lock)."""
    session = uow.session
    await session.execute(ANCHOR_LOCK)
    if due_after is not None and not await _due(session, due_after):
        return None
    await extend_chain(session)
    head = (await session.execute(HEAD)).first()
    if head is None:
        return None
    event = registry[anchor_type(service)].model_validate(
        {
            "service": service,
            "chain_seq": head.chain_seq,
            "chain_hash": head.chain_hash.hex(),
            "anchored_at": datetime.now(UTC),
        }
    )
    assert isinstance(event, ChainAnchored), f"{anchor_type(service)} is not a ChainAnchored event"
    uow.emit(event)
    return event


async def _due(session: AsyncSession, interval: float) -> bool:
    head = (await session.execute(HEAD)).first()
    if head is None:
        return False
    last = (await session.execute(LAST_ANCHOR)).first()
    if last is None:
        since = await session.scalar(FIRST_CHAINED)
    elif last.chain_seq is None or head.chain_seq <= last.chain_seq:
        return False  # nothing chained since the last anchor but the anchor itself
    else:
        since = last.created_at
    return since is not None and datetime.now(UTC) - since >= timedelta(seconds=interval)


async def chain_job(db: Database, settings: Settings, every: float = CHAIN_EVERY_SECONDS) -> None:
    """Every service's loop: chain what has committed, up to `outbox_batch_size` rows a round, a
    round `every` seconds (at once again after a full one). Apart from the relay, so publishing
    never waits for the hashing (in a burst it had taken 40% of each relay batch), and the history
    is chained while the broker is away."""
    while True:
        async with db.sessions() as session, session.begin():
            chained = await extend_chain(session, settings.outbox_batch_size)
        await asyncio.sleep(0 if chained == settings.outbox_batch_size else every)


async def anchor_job(db: Database, service: str, settings: Settings) -> None:
    """Every service's loop: publish the chain head every `audit_anchor_interval_seconds`."""
    interval = settings.audit_anchor_interval_seconds
    while True:
        async with db.unit_of_work(f"service:{service}-audit") as uow:
            if event := await anchor(uow, service, due_after=interval):
                await uow.commit()
                log.info("anchored the event history at chain_seq %d", event.chain_seq, extra=log_fields(
                    chain_seq=event.chain_seq, chain_hash=event.chain_hash))  # fmt: skip
        await asyncio.sleep(min(interval, ANCHOR_CHECK_SECONDS))


@dataclass(frozen=True)
class Verification:
    service: str
    checked: int  # chained rows found sound
    unchained: int  # rows not chained yet (not an error)
    anchors_checked: int
    broken: Break | None

    def __str__(self) -> str:
        counts = f"{self.unchained} not yet chained, {self.anchors_checked} anchor(s) matched"
        if self.broken is None:
            return f"{self.service}: {self.checked} rows checked, {counts}: ok"
        return f"{self.service}: BROKEN at {self.broken} ({self.checked} rows sound before it; {counts})"


async def verify(service: str, url: str, anchors: Iterable[Anchor] = ()) -> Verification:
    """Recompute `service`'s chain in its database at `url`, in `chain_seq` order, in one snapshot,
    and check the anchors of this service among `anchors` against it."""
    walk = ChainWalk([a for a in anchors if a.service == service])
    connection = await asyncpg.connect(driver_dsn(url))
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            unchained = await connection.fetchval(UNCHAINED_COUNT)
            async for row in connection.cursor(CHAIN_ROWS, prefetch=5000):
                if not walk.feed(ChainRow(*row)):
                    break
    finally:
        await connection.close()
    broken = walk.finish()
    return Verification(service, walk.checked, unchained, walk.anchors_checked, broken)


def file_anchors(path: Path) -> list[Anchor]:
    """Anchors kept in a JSON-lines file: each line an anchor's payload, its CloudEvent, or a line of
    `gmp-hub tail --json`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Anchor.of(json.loads(line)) for line in lines if line.strip()]


async def topic_anchors(settings: Settings, services: Iterable[str]) -> list[Anchor]:
    """Every anchor now on the services' topics, read from the beginning without a consumer group."""
    wanted = {anchor_type(s).encode() for s in services}
    topics = {topic_of(s) for s in services}
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms
    )
    await consumer.start()
    try:
        await consumer.topics()  # the cluster's metadata, so that the partitions are known
        partitions = [
            TopicPartition(t, p) for t in sorted(topics) for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        anchors: list[Anchor] = []
        stalled_since = time.monotonic()
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=200)
            if batches:
                stalled_since = time.monotonic()
            elif time.monotonic() - stalled_since > settings.kafka_request_timeout_seconds:
                raise TimeoutError(f"the broker sent nothing more of {', '.join(sorted(topics))} for a while")
            for records in batches.values():
                for record in records:
                    if dict(record.headers or ()).get("ce_type") in wanted and record.value is not None:
                        anchors.append(Anchor.of(json.loads(record.value)))
        return anchors
    finally:
        await consumer.stop()

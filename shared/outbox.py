"""The outbox relay: publishes committed outbox rows to Kafka, keyed by aggregate id, in order.

The outbox is the durable log; the broker is transport. One relay publishes per database at a time
(an advisory lock, the replicas' relays taking turns), so they never interleave and per-aggregate
order holds.

- A row is marked published once the broker acknowledged it, row by row: a send that fails holds
  back its aggregate (that row and the later ones of the same key, so their order holds) for a
  while, and every other aggregate goes on. A crash between ack and mark publishes the row again,
  and consumers drop the duplicate by event id.
- Before every batch the relay asks the broker who it is. Topics the hub publishes to are created
  by the hub before anything is sent (never left to auto-creation). A broker with another cluster
  id than the one last published to (a memory broker that restarted empty, a replaced cluster)
  gets every row the old one held published again, from `broker_epoch.first_seq` on and no older
  than `outbox_replay_horizon_hours`, in seq order.
- The relay does not chain: the outbox's hash chain (shared/chain.py) is extended by a loop of its
  own (`shared.audit.chain_job`), so publishing never waits for the hashing, and the history is
  chained whatever the broker does.
"""

import asyncio
import logging
import time
from datetime import timedelta
from uuid import UUID

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.database import Database, broker_epoch, mark_published, outbox
from shared.events import topic_of
from shared.kafka import BrokerLink, broker_view, ensure_topics
from shared.observability import OUTBOX_BACKLOG, OUTBOX_PUBLISHED, OUTBOX_REPLAYED, log_fields
from shared.settings import Settings

log = logging.getLogger(__name__)
OutboxRow = sa.Row[tuple[int, str, str, str, UUID, str]]  # seq, topic, key, type, event id, envelope as JSON
# Replicas' relays take turns: one woken while another sends waits for it, then publishes what the
# other's batch left (its own process's commits among them) rather than waiting for the next poll.
RELAY_LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtext('gmphub-outbox-relay'))")
HOLD_BACK_SECONDS = (1.0, 60.0)  # a failing aggregate waits 1 s, doubling up to a minute


class OutboxRelay:
    def __init__(self, service: str, db: Database, broker: BrokerLink, settings: Settings) -> None:
        self.service = service
        self.db = db
        self.broker = broker
        self.settings = settings
        self.topics = [topic_of(service)]
        self._cluster_id: str | None = None  # the broker this relay last published to
        self._held_back: dict[str, tuple[float, float]] = {}  # key -> (retry at, current pause)

    async def run(self) -> None:
        backoff = 0.2
        while True:
            ticket = self.db.new_events.ticket()  # a commit while this batch is sent is not missed
            try:
                published = await self.publish_batch()
                backoff = 0.2
            except Exception as exc:  # broker away, database restarting: wait and retry, lose nothing
                log.warning("outbox relay paused: %s", exc, extra=log_fields(retry_in=backoff))
                await self.broker.reset()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            if published < self.settings.outbox_batch_size:
                await self.db.new_events.wait(self.settings.outbox_poll_seconds, ticket)

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished rows of the aggregates not held back; return how many."""
        async with self.db.sessions() as session, session.begin():
            await session.execute(RELAY_LOCK)
            async with asyncio.timeout(self.settings.kafka_request_timeout_seconds):
                await self._check_broker(session)
            rows = await self._next_rows(session)
            # Each send times out on its own; this bounds the batch should the client itself hang.
            async with asyncio.timeout(2 * self.settings.kafka_request_timeout_seconds):
                published = await self._send(session, await self.broker.producer(), rows)
            backlog = await session.scalar(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
            OUTBOX_BACKLOG.labels(self.service).set(backlog or 0)
        return published

    async def _check_broker(self, session: AsyncSession) -> None:
        view = await broker_view((await self.broker.producer()).client)
        if missing := [t for t in self.topics if t not in view.partitions]:
            await ensure_topics(self.settings, missing)
        if view.cluster_id == self._cluster_id:
            return
        replayed = await adopt_broker(session, view.cluster_id, self.settings.outbox_replay_horizon_hours)
        if replayed:
            OUTBOX_REPLAYED.labels(self.service).inc(replayed)
            log.warning(
                "broker %s is not the one last published to: publishing %d events again from the outbox",
                view.cluster_id,
                replayed,
                extra=log_fields(cluster_id=view.cluster_id, replayed=replayed),
            )
        if self._cluster_id is not None:
            await self.broker.reset()  # a fresh producer, with the new broker's metadata
        self._cluster_id = view.cluster_id

    async def _next_rows(self, session: AsyncSession) -> list[OutboxRow]:
        now = time.monotonic()
        self._held_back = {key: hold for key, hold in self._held_back.items() if hold[0] > now}
        query = (
            # The envelope as PostgreSQL writes it out, sent as it is: not decoded to be encoded again.
            sa.select(
                outbox.c.seq,
                outbox.c.topic,
                outbox.c.key,
                outbox.c.type,
                outbox.c.event_id,
                sa.cast(outbox.c.envelope, sa.Text).label("envelope"),
            )
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(self.settings.outbox_batch_size)
        )
        if self._held_back:
            query = query.where(outbox.c.key.not_in(list(self._held_back)))
        return list((await session.execute(query)).all())

    async def _send(self, session: AsyncSession, producer: AIOKafkaProducer, rows: list[OutboxRow]) -> int:
        async def send(row: OutboxRow) -> None:
            ack = await producer.send(
                row.topic,
                value=row.envelope.encode(),
                key=row.key.encode(),
                headers=[
                    ("ce_type", row.type.encode()),
                    ("ce_id", str(row.event_id).encode()),
                    ("content-type", b"application/cloudevents+json"),
                ],
            )
            await ack

        outcomes = await asyncio.gather(*(send(row) for row in rows), return_exceptions=True)
        delivered = [row.seq for row, outcome in zip(rows, outcomes, strict=True) if outcome is None]
        if delivered:
            await mark_published(session, delivered)
            OUTBOX_PUBLISHED.labels(self.service).inc(len(delivered))
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self._hold_back(row.key, outcome)
            else:
                self._held_back.pop(row.key, None)
        return len(delivered)

    def _hold_back(self, key: str, error: BaseException) -> None:
        first, longest = HOLD_BACK_SECONDS
        pause = min(self._held_back.get(key, (0.0, first / 2))[1] * 2, longest)
        if key not in self._held_back:
            log.warning(
                "publishing events of %s failed: %s; its later events wait, the others go on",
                key,
                error,
                extra=log_fields(key=key, retry_in=pause),
            )
        self._held_back[key] = (time.monotonic() + pause, pause)


async def adopt_broker(session: AsyncSession, cluster_id: str, horizon_hours: float) -> int:
    """Record that the relay publishes to `cluster_id` from now on. If the last broker published to
    was another, mark what it was given unpublished again (no older than the horizon), so it is
    published to this one; return how many rows that is. Idempotent for the broker of record."""
    last = (
        await session.execute(
            sa.select(broker_epoch.c.cluster_id, broker_epoch.c.first_seq)
            .order_by(broker_epoch.c.first_seen_at.desc())
            .limit(1)
        )
    ).first()
    if last is not None and last.cluster_id == cluster_id:
        return 0
    replayed = 0
    if last is not None:
        result = await session.execute(
            sa.update(outbox)
            .where(
                outbox.c.seq >= last.first_seq,
                outbox.c.published_at.is_not(None),
                outbox.c.created_at >= sa.func.now() - timedelta(hours=horizon_hours),
            )
            .values(published_at=None)
        )
        replayed = result.rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult
    first_unpublished = sa.select(sa.func.min(outbox.c.seq)).where(outbox.c.published_at.is_(None))
    next_seq = sa.select(sa.func.max(outbox.c.seq) + 1)
    first_seq = await session.scalar(
        sa.select(sa.func.coalesce(first_unpublished.scalar_subquery(), next_seq.scalar_subquery(), 1))
    )
    await session.execute(
        insert(broker_epoch)
        .values(cluster_id=cluster_id, first_seq=first_seq)
        .on_conflict_do_update(
            index_elements=["cluster_id"], set_={"first_seq": first_seq, "first_seen_at": sa.func.now()}
        )
    )
    return replayed

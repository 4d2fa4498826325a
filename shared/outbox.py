"""The outbox relay: publishes committed outbox rows to Kafka, keyed by aggregate id, in order.

One relay publishes per database at a time (an advisory lock), so replicas of a service never
interleave and per-aggregate order holds. A row is marked published only after the broker
acknowledged it; a crash in between publishes it again, and consumers drop the duplicate by id.
"""

import asyncio
import json
import logging
from datetime import UTC, datetime

import sqlalchemy as sa

from shared.database import Database, mark_published, outbox, unpublished
from shared.events import topic_of
from shared.kafka import BrokerLink, ensure_topics
from shared.observability import OUTBOX_BACKLOG, OUTBOX_PUBLISHED, log_fields
from shared.settings import Settings

log = logging.getLogger(__name__)
RELAY_LOCK = sa.text("SELECT pg_try_advisory_xact_lock(hashtext('gmphub-outbox-relay'))")


class OutboxRelay:
    def __init__(self, service: str, db: Database, broker: BrokerLink, settings: Settings) -> None:
        self.service = service
        self.db = db
        self.broker = broker
        self.settings = settings
        self.topics = [topic_of(service)]
        self._topics_ready = False  # a broker that restarted empty (Tansu keeps memory only) lacks them

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                published = await self.publish_batch()
                backoff = 0.2
            except Exception as exc:  # broker away, database restarting: wait and retry, lose nothing
                log.warning("outbox relay paused: %s", exc, extra=log_fields(retry_in=backoff))
                await self.broker.reset()
                self._topics_ready = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            if published < self.settings.outbox_batch_size:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the signal fires, and the relay would then never stop.
        try:
            async with asyncio.timeout(self.settings.outbox_poll_seconds):
                await self.db.outbox_signal.wait()
        except TimeoutError:
            pass
        self.db.outbox_signal.clear()

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished rows; return how many."""
        async with self.db.sessions() as session, session.begin():
            if not (await session.execute(RELAY_LOCK)).scalar():
                return 0  # another replica is relaying
            rows = await unpublished(session, self.settings.outbox_batch_size)
            if rows:
                if not self._topics_ready:
                    await ensure_topics(self.settings, sorted({row.topic for row in rows} | set(self.topics)))
                    self._topics_ready = True
                producer = await self.broker.producer()
                acks = [
                    await producer.send(
                        row.topic,
                        value=json.dumps(row.envelope).encode(),
                        key=row.key.encode(),
                        headers=[
                            ("ce_type", row.envelope["type"].encode()),
                            ("ce_id", row.envelope["id"].encode()),
                            ("content-type", b"application/cloudevents+json"),
                        ],
                    )
                    for row in rows
                ]
                await asyncio.gather(*acks)
                await mark_published(session, [row.seq for row in rows], datetime.now(UTC))
                OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
            backlog = await session.scalar(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
            OUTBOX_BACKLOG.labels(self.service).set(backlog or 0)
        return len(rows)

"""Dead letters sent back to their topic once the cause is fixed: all of a topic's with `gmp-hub
dlq-replay TOPIC`, or the ones a service's own consumer sent with its `POST /ops/dlq/replay`.

Each event goes back once: the newest of its records (a DLQ on a broker that does not compact
keeps a copy for every time an event died), unchanged (its CloudEvents id too, so a consumer that
applied it already changes nothing), with its own key and its attempt count (`dlq_attempts`, which
the consumer counts on should it die again); the other `dlq_*` headers stay behind."""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Self

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.database import Database, processed_event
from shared.kafka import client_options, dlq_of
from shared.settings import Settings


def source_topic(dlq: str) -> str:
    return dlq.removesuffix(".dlq")


class DeadLetterReader:
    """Reads the DLQs of `topics` up to the end they had when it started: from the beginning, or,
    with a `group`, from where that group last committed (so a run replays only what died since)."""

    def __init__(self, settings: Settings, topics: Iterable[str], group: str | None = None) -> None:
        self.dlqs = [dlq_of(t) for t in topics]
        self.group = group
        self.copies = 0  # older records of an event read and left out
        self._ends: dict[TopicPartition, int] = {}
        self._consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        )

    async def __aenter__(self) -> Self:
        try:
            await self._consumer.start()
        except BaseException:
            await self._consumer.stop()
            raise
        # Without a group aiokafka starts a task that stop() cancels and awaits; cancelled before it
        # ever ran, it raises CancelledError out of stop(). One turn of the loop lets it start.
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def read(self) -> dict[str, list[ConsumerRecord[bytes, bytes]]]:
        """Per original topic, the newest record of each dead event, in the order they died."""
        consumer = self._consumer
        if any(consumer.partitions_for_topic(dlq) is None for dlq in self.dlqs):
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a DLQ created since it started
        # Assigned, not subscribed: no group join to wait for, and it stops at the end it saw.
        partitions = [
            TopicPartition(dlq, p) for dlq in self.dlqs for p in sorted(consumer.partitions_for_topic(dlq) or ())
        ]
        if not partitions:
            return {source_topic(d): [] for d in self.dlqs}
        consumer.assign(partitions)
        self._ends = await consumer.end_offsets(partitions)
        latest: dict[tuple[str, bytes], ConsumerRecord[bytes, bytes]] = {}  # (DLQ, consumer/event) -> newest
        while any([await consumer.position(tp) < self._ends[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    one_event = "dlq_attempts" in dict(record.headers or ())  # keyed by consumer/event
                    key = record.key if one_event else f"{record.partition}/{record.offset}".encode()
                    if latest.pop((record.topic, key or b""), None) is not None:
                        self.copies += 1  # the newest copy counts, in the order the copies came
                    latest[(record.topic, key or b"")] = record
        found: dict[str, list[ConsumerRecord[bytes, bytes]]] = {source_topic(d): [] for d in self.dlqs}
        for record in latest.values():
            found[source_topic(record.topic)].append(record)
        return found

    async def commit(self) -> None:
        """Remember, for the group, that everything read is dealt with."""
        if self.group and self._ends:
            await self._consumer.commit(self._ends)


async def send_back(producer: AIOKafkaProducer, letters: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
    """Publish each dead letter to the topic it came from, as it was there (see the module's doc)."""
    for record in letters:
        headers = dict(record.headers or ())
        kept = [(k, v) for k, v in record.headers or () if not k.startswith("dlq_") or k == "dlq_attempts"]
        await producer.send_and_wait(
            source_topic(record.topic), record.value, key=headers.get("dlq_key", record.key), headers=kept
        )


@dataclass
class ServiceDeadLetters:
    """A service's dead letters still waiting: those its own consumer sent (`dlq_consumer`) to the
    DLQs of the topics it follows, whose event it has not applied since (its `processed_event`). A
    replayed event leaves this list once the consumer has applied it; one that dies again stays."""

    service: str
    waiting: dict[str, list[ConsumerRecord[bytes, bytes]]] = field(default_factory=dict)

    def event_id(self, record: ConsumerRecord[bytes, bytes]) -> str:
        """The consumer keys its dead letters `<service>/<event id>`."""
        return (record.key or b"").decode(errors="replace").removeprefix(f"{self.service}/")

    @property
    def count(self) -> int:
        return sum(len(letters) for letters in self.waiting.values())


async def waiting_for(service: str, settings: Settings, db: Database, topics: list[str]) -> ServiceDeadLetters:
    found = ServiceDeadLetters(service)
    if not topics:  # it follows nothing, so it dead-letters nothing
        return found
    async with DeadLetterReader(settings, topics) as reader:
        letters = await reader.read()
    own = {
        topic: [r for r in records if dict(r.headers or ()).get("dlq_consumer") == service.encode()]
        for topic, records in letters.items()
    }
    ids = {found.event_id(r) for records in own.values() for r in records}
    applied: set[str] = set()
    if ids:
        async with db.engine.connect() as conn:
            query = sa.select(processed_event.c.event_id).where(
                processed_event.c.consumer == service, processed_event.c.event_id.in_(ids)
            )
            applied = set(await conn.scalars(query))
    found.waiting = {topic: [r for r in records if found.event_id(r) not in applied] for topic, records in own.items()}
    return found

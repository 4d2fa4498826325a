"""The idempotent consumer: a handler's writes and the id of the event it handled commit in one
transaction; offsets are committed only after. A redelivered event finds its id recorded and
changes nothing. An event that keeps failing goes to `<topic>.dlq` with its error, and the
consumer moves on; an outage (database or network away) only pauses it.

Every commit has a time limit, and records are handled only from the broker the consumer started
on: a commit that hangs (an unknown topic), or a broker with another cluster id (restarted empty:
its log is what the relays publish again), sends the consumer back to the start, through topic
creation, reading from the offsets that broker has (none: from the beginning)."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert

from shared.database import Database, UnitOfWork, is_outage, processed_event
from shared.events import Envelope, Event, InboundEvent
from shared.kafka import BrokerLink, broker_view, client_options, dlq_of, ensure_topics
from shared.observability import CONSUMER_LAG, DLQ_MESSAGES, EVENTS_HANDLED, correlation_id, log_fields
from shared.settings import Settings
from shared.tracing import span

log = logging.getLogger(__name__)

# What a consumer decodes a payload into: its own model of another service's event (`InboundEvent`,
# the services' way) or a published `Event` class itself. The decoding reads only `type`, `topic()`
# and `model_validate`.
Followed = InboundEvent | Event
Handler = Callable[[UnitOfWork, Followed], Awaitable[None]]


# One statement for any batch size, its rows given as parameters: built with the rows as values, it
# was compiled anew for every batch.
RECORD_HANDLED = insert(processed_event).on_conflict_do_nothing().returning(processed_event.c.event_id)


class Decoded(NamedTuple):
    """A record this consumer follows: its envelope, its payload as the consumer's model, its handler."""

    record: ConsumerRecord
    envelope: Envelope
    event: Followed
    handler: Handler


class BrokerReplaced(Exception):
    """The broker answering is not the one this consumer's positions belong to."""


class PoisonEvent(Exception):
    """The message can never be handled (not an envelope, or a payload that fails its schema)."""


class _JoinListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types for it
    """Marks the consumer joined once the group gives it partitions; readiness waits for that."""

    def __init__(self, consumer: "EventConsumer") -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:  # another member reports these now; a stale gauge would mislead
            self.consumer.positions.pop(tp, None)
            with suppress(KeyError):
                CONSUMER_LAG.remove(self.consumer.service, tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: object) -> None:
        self.consumer.joined = True


class EventConsumer:
    def __init__(
        self,
        service: str,
        db: Database,
        broker: BrokerLink,
        settings: Settings,
        handlers: Mapping[type[Followed], Handler],
    ) -> None:
        self.service = service
        self.db = db
        self.broker = broker
        self.settings = settings
        self.handlers = {cls.type: (cls, handler) for cls, handler in handlers.items()}
        if len(self.handlers) != len(handlers):  # models are not registered: nothing else refuses a twin
            raise ValueError(f"{service} follows an event type with two models")
        self.topics = sorted({cls.topic() for cls in handlers})
        self.retry_delay = 0.2
        self.joined = not self.topics  # ready once it holds partitions (or follows nothing)
        # The next offset to handle per partition, as this consumer last committed it: lag is read
        # from it, never from `position()`, which waits without end while a group rejoins.
        self.positions: dict[TopicPartition, int] = {}

    async def run(self) -> None:
        if not self.topics:
            return
        backoff = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                **client_options(self.settings),
                group_id=f"gmphub-{self.service}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=self.settings.kafka_fetch_max_wait_ms,
                session_timeout_ms=self.settings.kafka_session_timeout_ms,
                heartbeat_interval_ms=max(self.settings.kafka_session_timeout_ms // 10, 100),
                metadata_max_age_ms=self.settings.kafka_metadata_max_age_ms,
            )
            try:
                async with asyncio.timeout(self.settings.kafka_request_timeout_seconds):
                    await ensure_topics(self.settings, self.topics)
                    cluster_id = await self._cluster_id()
                consumer.subscribe(self.topics, listener=_JoinListener(self))
                async with asyncio.timeout(self.settings.kafka_request_timeout_seconds):
                    await consumer.start()
                backoff = 0.5
                await self._consume(consumer, cluster_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer paused: %r", exc, extra=log_fields(retry_in=backoff))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
            finally:
                self.joined = not self.topics
                self.positions.clear()
                # Leaving the group asks the broker; one that is away must not hold the restart.
                with suppress(Exception):
                    async with asyncio.timeout(self.settings.kafka_request_timeout_seconds):
                        await consumer.stop()

    async def _cluster_id(self) -> str:
        return (await broker_view((await self.broker.producer()).client)).cluster_id

    async def _consume(self, consumer: AIOKafkaConsumer, cluster_id: str) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=200)
            if batches:
                # Records fetched from a replaced broker at the old log's positions would skip and
                # reorder events: check before handling, not only before committing.
                async with asyncio.timeout(self.settings.kafka_request_timeout_seconds):
                    if await self._cluster_id() != cluster_id:
                        raise BrokerReplaced("the broker has another cluster id; reading again from its start")
                await self.handle_batch([record for records in batches.values() for record in records])
                handled = {tp: records[-1].offset + 1 for tp, records in batches.items()}
                async with asyncio.timeout(self.settings.kafka_request_timeout_seconds):
                    await consumer.commit(handled)
                self.positions |= handled
            self._record_lag(consumer)

    def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            highwater, position = consumer.highwater(tp), self.positions.get(tp)
            if highwater is not None and position is not None:
                CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(max(highwater - position, 0))

    async def handle_batch(self, records: Sequence[ConsumerRecord]) -> None:
        """Apply a fetched batch in one transaction, each partition's records in their order. If an
        event in it fails, the batch is applied again record by record, so only that event is
        retried and dead-lettered."""
        followed = []
        for record in records:
            try:
                if decoded := self._decode(record):
                    followed.append(decoded)
            except PoisonEvent as exc:
                await self._dead_letter(record, str(exc))
        if len(followed) < 2:
            for decoded in followed:
                await self.handle_one(decoded)
            return
        try:
            outcomes = await self._apply(followed)
        except Exception as exc:
            if is_outage(exc):
                raise  # not the events' fault: pause without committing, and lose nothing
            log.warning("a batch of %d events failed (%s); handling them one by one", len(followed), exc)
            for decoded in followed:
                await self.handle_one(decoded)
            return
        for decoded, outcome in zip(followed, outcomes, strict=True):
            EVENTS_HANDLED.labels(self.service, decoded.envelope.type, outcome).inc()

    async def handle_one(self, decoded: Decoded) -> None:
        envelope = decoded.envelope
        for attempt in range(1, self.settings.consumer_max_attempts + 1):
            try:
                (outcome,) = await self._apply([decoded])
                EVENTS_HANDLED.labels(self.service, envelope.type, outcome).inc()
                return
            except Exception as exc:
                if is_outage(exc):
                    raise  # not the event's fault: pause without committing, and lose nothing
                log.warning(
                    "handling %s failed (attempt %d): %s",
                    envelope.type,
                    attempt,
                    exc,
                    extra=log_fields(event_id=envelope.id),
                )
                error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(self.retry_delay * attempt)
        EVENTS_HANDLED.labels(self.service, envelope.type, "dead_lettered").inc()
        await self._dead_letter(decoded.record, error)

    def _decode(self, record: ConsumerRecord) -> Decoded | None:
        """The record as an event this consumer follows; None for a type it does not follow. The
        hub's relay names the type in the `ce_type` header (CloudEvents' Kafka binding), so most
        records of a topic this consumer reads for a few types are left without parsing them (for
        materials, every `booking.held` of a hold)."""
        named = next((v for k, v in record.headers or () if k == "ce_type"), None)
        if named is not None and named.decode(errors="replace") not in self.handlers:
            return None
        try:
            envelope = Envelope.model_validate(json.loads(record.value))
        except (ValueError, TypeError, ValidationError) as exc:
            raise PoisonEvent(f"not a CloudEvents envelope: {exc}") from exc
        if envelope.type not in self.handlers:
            return None
        cls, handler = self.handlers[envelope.type]
        try:
            return Decoded(record, envelope, cls.model_validate(envelope.data), handler)
        except ValidationError as exc:
            raise PoisonEvent(f"payload does not match {envelope.type}: {exc}") from exc

    async def _apply(self, batch: Sequence[Decoded]) -> list[str]:
        """Record the events' ids and apply the new ones, in one transaction: a redelivered event
        finds its id recorded and changes nothing."""
        async with self.db.unit_of_work(actor=f"service:{self.service}") as uow:
            handled = [{"consumer": self.service, "event_id": d.envelope.id, "type": d.envelope.type} for d in batch]
            fresh = set(await uow.session.scalars(RECORD_HANDLED, handled))
            outcomes = []
            for decoded in batch:
                if decoded.envelope.id not in fresh:  # handled before, or twice in this batch
                    outcomes.append("duplicate")
                    continue
                fresh.discard(decoded.envelope.id)
                await self._handle(uow, decoded)
                outcomes.append("applied")
            await uow.commit()
        return outcomes

    async def _handle(self, uow: UnitOfWork, decoded: Decoded) -> None:
        envelope = decoded.envelope
        uow.causation_id = envelope.id  # what the handler emits names this event as its cause
        token = correlation_id.set(envelope.correlationid)
        attributes = {"messaging.system": "kafka", "gmphub.service": self.service, "cloudevents.event_id": envelope.id}
        try:
            with span(
                f"handle {envelope.type}", SpanKind.CONSUMER, traceparent=envelope.traceparent, attributes=attributes
            ):
                await decoded.handler(uow, decoded.event)
        finally:
            correlation_id.reset(token)
        log.debug("handled %s", envelope.type, extra=log_fields(event_id=envelope.id, subject=envelope.subject))

    async def _dead_letter(self, record: ConsumerRecord, error: str) -> None:
        """Publish the message unchanged to `<topic>.dlq` with why it failed; raise if that fails,
        so the offset is not committed and the message is not lost.

        One record per event and consumer: the DLQ record's key names both (the event's own key
        travels in `dlq_key`), so a compacted DLQ topic keeps only the latest failure of an event,
        and `dlq_attempts` counts how often it died (carried through `gmp-hub dlq-replay`)."""
        dlq = dlq_of(record.topic)
        async with asyncio.timeout(self.settings.kafka_request_timeout_seconds):
            await ensure_topics(self.settings, [dlq])
        producer = await self.broker.producer()
        original = {k: v for k, v in record.headers or ()}
        attempts = int(original.get("dlq_attempts", b"0") or 0) + 1
        source = f"{record.topic}/{record.partition}/{record.offset}"
        event_id = original.get("ce_id", b"").decode(errors="replace") or _event_id(record.value) or source
        headers = [(k, v) for k, v in record.headers or () if not k.startswith("dlq_")] + [
            ("dlq_error", error[:2000].encode()),
            ("dlq_consumer", self.service.encode()),
            ("dlq_source", source.encode()),
            ("dlq_attempts", str(attempts).encode()),
        ]
        if record.key is not None:
            headers.append(("dlq_key", record.key))
        key = f"{self.service}/{event_id}".encode()
        await producer.send_and_wait(dlq, value=record.value, key=key, headers=headers)
        DLQ_MESSAGES.labels(self.service, record.topic).inc()
        log.error("event sent to %s: %s", dlq, error, extra=log_fields(offset=record.offset, attempts=attempts))


def _event_id(value: bytes | None) -> str | None:
    """The CloudEvents id inside a message, if it is one (a producer may not set the `ce_id` header)."""
    try:
        found = json.loads(value or b"").get("id")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None

"""The broker link a service keeps: one producer (for the outbox relay and the DLQ), topic
creation, and a readiness probe. Works on Apache Kafka and on Tansu alike: no idempotent or
transactional producer, because the outbox and idempotent consumers carry the guarantees."""

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from shared.settings import Settings

log = logging.getLogger(__name__)
# What the producer sends of one partition in one request, at most (aiokafka's default is 16 KiB):
# envelopes are about 1 KiB, so a relay batch of 200 went out as some five requests per partition,
# each waiting for the one before (R4's burst: 4,519 → 5,516 events/s with 1 MiB).
PRODUCER_BATCH_BYTES = 1_048_576


def dlq_of(topic: str) -> str:
    return f"{topic}.dlq"


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options every producer, consumer and admin client of the hub uses."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    if settings.kafka_sasl_mechanism:
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password,
        }
    return options


async def ensure_topics(settings: Settings, topics: list[str]) -> None:
    """Create `topics` (and nothing else) if the broker lacks them; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=5000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        new = [
            NewTopic(
                t,
                num_partitions=settings.kafka_topic_partitions,
                replication_factor=settings.kafka_replication_factor,
                # a dead-letter topic keeps the latest failure of each event (its key: consumer/event id)
                topic_configs={"cleanup.policy": "compact"} if t.endswith(".dlq") else {},
            )
            for t in missing
        ]
        with suppress(TopicAlreadyExistsError):  # another service created it between our list and create
            await admin.create_topics(new)
    finally:
        await admin.close()


@dataclass(frozen=True)
class BrokerView:
    """What the broker says of itself: which cluster it is, and its topics with their partitions."""

    cluster_id: str
    partitions: dict[str, int]


async def broker_view(client: AIOKafkaClient) -> BrokerView:
    """Ask the broker for all its topics. Asking for all, never for named ones, is deliberate: a
    request naming a missing topic makes a broker with auto-creation on create it, with its own
    partition count instead of the hub's."""
    node = client.get_random_node()
    if node is None:
        raise KafkaConnectionError("no broker known")
    response = await client.send(node, MetadataRequest(None))
    partitions = {topic[1]: len(topic[3]) for topic in response.topics if topic[0] == 0}
    return BrokerView(response.cluster_id or "", partitions)


class BrokerLink:
    """A lazily (re)started producer shared by a service's relay and consumer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **client_options(self.settings),
                    acks="all",
                    enable_idempotence=False,
                    linger_ms=0,
                    max_batch_size=PRODUCER_BATCH_BYTES,
                    request_timeout_ms=10000,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def reset(self) -> None:
        """Drop the producer after a broker error, so the next use reconnects from scratch."""
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            # Stopping flushes what is pending, which waits on a broker that may be away: outside
            # the lock and time-limited, so the relay and the consumer get a fresh producer now.
            try:
                async with asyncio.timeout(self.settings.kafka_request_timeout_seconds):
                    await producer.stop()
            except (KafkaError, TimeoutError):
                log.debug("producer stop after broker error failed", exc_info=True)

    async def check(self, timeout: float = 3.0) -> None:
        """Raise unless the broker answers a metadata request now."""
        producer = await asyncio.wait_for(self.producer(), timeout)
        await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout)

    async def close(self) -> None:
        await self.reset()

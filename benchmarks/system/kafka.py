"""The broker's ceilings: a bare aiokafka producer and consumer on the hub's broker, configured as
the hub configures its own (acks=all, linger 0, fetch_max_wait as the hub's settings say, offsets committed after each
batch), carrying real registry envelopes on a fresh topic with the hub's three partitions."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.kafka import PRODUCER_BATCH_BYTES
from shared.settings import Settings

PARTITIONS = 3
FETCH_MAX_WAIT_MS = Settings.model_fields["kafka_fetch_max_wait_ms"].default  # the hub's default
KEYS = [str(uuid.uuid4()).encode() for _ in range(16)]  # like the burst's 16 facilities


@asynccontextmanager
async def _pipe(bootstrap: str) -> AsyncIterator[tuple[str, AIOKafkaProducer, AIOKafkaConsumer]]:
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=0,
        enable_idempotence=False,
        max_batch_size=PRODUCER_BATCH_BYTES,
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"bench-{topic}",
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    await producer.start()
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    await consumer.start()
    await consumer.seek_to_beginning()
    try:
        yield topic, producer, consumer
    finally:
        await consumer.stop()
        await producer.stop()


async def throughput(bootstrap: str, payload: bytes, count: int) -> float:
    """Messages per second: `count` produced as fast as the producer takes them and consumed meanwhile."""
    async with _pipe(bootstrap) as (topic, producer, consumer):
        started = time.perf_counter()

        async def produce() -> None:
            sent = [await producer.send(topic, payload, key=KEYS[i % len(KEYS)]) for i in range(count)]
            await asyncio.gather(*sent)

        async def consume() -> None:
            received = 0
            while received < count:
                batches = await consumer.getmany(timeout_ms=1000, max_records=200)
                received += sum(len(records) for records in batches.values())
                if batches:
                    await consumer.commit()

        await asyncio.gather(produce(), consume())
        return count / (time.perf_counter() - started)


async def round_trips(bootstrap: str, payload: bytes, count: int) -> list[float]:
    """Ms from sending one message to the consumer holding it, one message at a time."""
    async with _pipe(bootstrap) as (topic, producer, consumer):
        latencies = []
        for i in range(count):
            started = time.perf_counter()
            await producer.send_and_wait(topic, payload, key=KEYS[i % len(KEYS)])
            while not await consumer.getmany(timeout_ms=1000):
                pass
            latencies.append((time.perf_counter() - started) * 1000)
            await consumer.commit()
        return latencies

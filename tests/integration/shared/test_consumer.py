"""The idempotent consumer: a redelivered event is applied once, a poison event goes to the DLQ
and the events behind it are still handled, and ids follow the work into what it causes."""

import asyncio
import json
import uuid

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from services.registry.events import FacilityRegistered
from shared.consumer import EventConsumer
from shared.database import Database, UnitOfWork, outbox
from shared.events import Envelope
from shared.kafka import BrokerLink, ensure_topics
from tests.integration.shared.events import facility_registered
from tests.support import eventually, read_topic

TOPIC = "gmphub.registry.v1"


class Harness:
    """A consumer on a scratch database whose handler records every application in a table."""

    def __init__(self, config, db: Database) -> None:
        self.config = config
        self.db = db
        self.poisonous: set[str] = set()
        self.outages = 0  # how many more applications find "the database" away
        self.echo = False
        self.consumer = EventConsumer(
            f"test-{uuid.uuid4().hex[:8]}", db, BrokerLink(config), config, {FacilityRegistered: self.apply}
        )
        self.consumer.retry_delay = 0.01

    async def apply(self, uow: UnitOfWork, event: FacilityRegistered) -> None:
        if self.outages:
            self.outages -= 1
            raise ConnectionRefusedError("database away")
        if str(event.facility_id) in self.poisonous:
            raise ValueError("this facility always fails")
        await uow.session.execute(
            sa.text("INSERT INTO applied (facility_id, version) VALUES (:f, :v)"),
            {"f": str(event.facility_id), "v": event.version},
        )
        if self.echo:  # what a handler emits carries the cause's correlation and id
            uow.emit(facility_registered(version=event.version + 100))

    async def applied(self, facility_id: uuid.UUID) -> list[int]:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT version FROM applied WHERE facility_id = :f ORDER BY id"), {"f": str(facility_id)}
            )
            return [r.version for r in rows]


@pytest.fixture(scope="module")
async def running_harness(settings, scratch_database, private_broker):
    """One consumer for the module: a new group's first join takes Tansu about five seconds."""
    url = await scratch_database("scheduling")
    config = settings.model_copy(
        update={
            "scheduling_database_url": url,
            "kafka_bootstrap_servers": private_broker.bootstrap_servers,
            "consumer_max_attempts": 2,
        }
    )
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE applied (id serial PRIMARY KEY, facility_id text, version int)"))
    await ensure_topics(config, [TOPIC])
    h = Harness(config, db)
    task = asyncio.create_task(h.consumer.run())
    await eventually(lambda: asyncio.sleep(0, h.consumer.joined), timeout=30)
    yield h
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await h.consumer.broker.close()
    await db.dispose()


@pytest.fixture
def harness(running_harness: Harness) -> Harness:
    running_harness.poisonous.clear()
    running_harness.outages = 0
    running_harness.echo = False
    return running_harness


@pytest.fixture
async def producer(harness):
    p = AIOKafkaProducer(bootstrap_servers=harness.config.kafka_servers)
    await p.start()
    yield p
    await p.stop()


def envelope_bytes(event, correlation_id: str | None = None) -> tuple[bytes, bytes]:
    envelope = Envelope.wrap(event, actor="test:producer", correlation_id=correlation_id)
    return event.aggregate_id.encode(), envelope.model_dump_json().encode()


async def test_the_same_event_delivered_twice_is_applied_once(harness, producer):
    event = facility_registered()
    key, value = envelope_bytes(event)
    await producer.send_and_wait(TOPIC, value, key=key)
    await producer.send_and_wait(TOPIC, value, key=key)  # redelivery: same envelope, same id
    sentinel_key, sentinel = envelope_bytes(facility_registered(event.facility_id, version=2))
    await producer.send_and_wait(TOPIC, sentinel, key=sentinel_key)  # same key: same partition, after both

    async def sentinel_applied():
        return 2 in await harness.applied(event.facility_id)

    await eventually(sentinel_applied)
    assert await harness.applied(event.facility_id) == [1, 2]


async def test_poison_message_goes_to_dlq_and_later_events_are_handled(harness, producer):
    event = facility_registered()
    key = event.aggregate_id.encode()
    await producer.send_and_wait(TOPIC, b"{not json", key=key)
    failing = facility_registered()
    harness.poisonous.add(str(failing.facility_id))
    await producer.send_and_wait(TOPIC, envelope_bytes(failing)[1], key=key)  # same partition as the rest
    await producer.send_and_wait(TOPIC, envelope_bytes(event)[1], key=key)

    async def later_event_applied():
        return await harness.applied(event.facility_id) == [1]

    await eventually(later_event_applied)
    # Keyed per event, dead letters spread over the DLQ's partitions: told apart by their error.
    dead = {
        dict(r.headers)["dlq_error"].decode().split(":")[0]: r
        for r in await read_topic(harness.config.kafka_servers, f"{TOPIC}.dlq")
    }
    assert sorted(dead) == ["ValueError", "not a CloudEvents envelope"]
    failed = dead["ValueError"]
    assert dict(failed.headers)["dlq_error"] == b"ValueError: this facility always fails"
    assert json.loads(failed.value)["data"]["facility_id"] == str(failing.facility_id)  # unchanged message
    headers = dict(failed.headers)
    assert failed.key == f"{harness.consumer.service}/{json.loads(failed.value)['id']}".encode()  # one per event
    assert (headers["dlq_key"], headers["dlq_attempts"]) == (key, b"1")

    # Replayed (`gmp-hub dlq-replay` keeps the count) and failing again: the same DLQ key, attempt 2.
    await producer.send_and_wait(TOPIC, failed.value, key=key, headers=[("dlq_attempts", b"1")])

    async def died_again():
        again = [r for r in await read_topic(harness.config.kafka_servers, f"{TOPIC}.dlq") if r.key == failed.key]
        assert [dict(r.headers)["dlq_attempts"] for r in again] == [b"1", b"2"]
        return True

    await eventually(died_again, timeout=15)
    assert await harness.applied(failing.facility_id) == []  # its failed attempts left nothing behind


async def test_a_record_headed_with_a_type_not_followed_is_left_unread(harness, producer):
    """The relay names each event's type in the `ce_type` header: a consumer skips the types it does
    not follow without parsing them, so even a body that is no envelope is left alone, not
    dead-lettered; a followed type named there is read as always."""
    event = facility_registered()
    key = event.aggregate_id.encode()
    unread = b"{not an envelope, and not followed"
    await producer.send_and_wait(TOPIC, unread, key=key, headers=[("ce_type", b"gmphub.registry.suite.added.v1")])
    followed = [("ce_type", FacilityRegistered.type.encode())]
    await producer.send_and_wait(TOPIC, envelope_bytes(event)[1], key=key, headers=followed)  # same partition

    async def followed_applied():
        return await harness.applied(event.facility_id) == [1]

    await eventually(followed_applied)
    dead = await read_topic(harness.config.kafka_servers, f"{TOPIC}.dlq")
    assert unread not in [r.value for r in dead]


async def test_events_caused_by_a_handler_carry_its_correlation_and_causation(harness, producer):
    harness.echo = True
    event = facility_registered()
    key, value = envelope_bytes(event, correlation_id="req-42")
    await producer.send_and_wait(TOPIC, value, key=key)

    async def caused_event():
        async with harness.db.engine.connect() as conn:
            envelopes = (await conn.execute(sa.select(outbox.c.envelope))).scalars()
            return next((e for e in envelopes if e["causationid"] == json.loads(value)["id"]), None)

    caused = await eventually(caused_event)
    assert caused["correlationid"] == "req-42"
    assert caused["causationid"] == json.loads(value)["id"]
    assert caused["actor"] == f"service:{harness.consumer.service}"


async def send_burst(producer, events, tag: str) -> list[str]:
    """Send without awaiting each one, so the consumer fetches them as one batch; return their ids."""
    sent, ids = [], []
    for number, event in enumerate(events):
        key, value = envelope_bytes(event, correlation_id=f"{tag}-{number}")
        ids.append(json.loads(value)["id"])
        sent.append(await producer.send(TOPIC, value, key=key))
    await asyncio.gather(*sent)
    return ids


async def emitted_by_correlation(harness: Harness, tag: str, count: int) -> list[list[str]]:
    """For each event of a burst, the causation ids of what its handler emitted."""
    async with harness.db.engine.connect() as conn:
        emitted = list((await conn.execute(sa.select(outbox.c.envelope))).scalars())
    return [[e["causationid"] for e in emitted if e["correlationid"] == f"{tag}-{n}"] for n in range(count)]


async def test_a_burst_is_applied_together_and_each_event_keeps_its_own_cause(harness, producer):
    harness.echo = True
    burst = [facility_registered() for _ in range(20)]
    ids = await send_burst(producer, burst, "together")

    async def all_applied():
        return all([await harness.applied(e.facility_id) == [1] for e in burst])

    await eventually(all_applied, timeout=30)
    assert await emitted_by_correlation(harness, "together", 20) == [[cause] for cause in ids]


async def test_a_failing_event_in_a_burst_dies_alone_and_the_rest_are_applied_once(harness, producer):
    harness.echo = True
    burst = [facility_registered() for _ in range(20)]
    harness.poisonous.add(str(burst[7].facility_id))
    ids = await send_burst(producer, burst, "one-fails")

    async def all_but_the_failing_one_applied():
        assert [await harness.applied(e.facility_id) for e in burst] == [[] if n == 7 else [1] for n in range(20)]
        return True

    await eventually(all_but_the_failing_one_applied, timeout=30)
    assert await emitted_by_correlation(harness, "one-fails", 20) == [[] if n == 7 else [c] for n, c in enumerate(ids)]


async def test_an_outage_pauses_the_consumer_and_the_event_is_applied_after_it(harness, producer):
    harness.outages = 3  # more than consumer_max_attempts (2): a failing event would be dead-lettered
    event = facility_registered()
    key, value = envelope_bytes(event)
    await producer.send_and_wait(TOPIC, value, key=key)

    async def applied_once_back():
        return await harness.applied(event.facility_id) == [1]

    await eventually(applied_once_back, timeout=30)
    dead = await read_topic(harness.config.kafka_servers, f"{TOPIC}.dlq")
    assert all(dict(r.headers).get("dlq_key") != key for r in dead)


async def test_a_broker_restarted_empty_is_read_from_its_start(harness, private_broker):
    """Offsets the consumer held belong to the old broker's log; on the new one (whose log is what
    the relays publish again) they would skip events. It starts over and misses nothing."""
    facility = facility_registered()
    await publish_versions(harness, facility.facility_id, range(1, 11))
    await eventually(lambda: applied_in_order(harness, facility.facility_id, 10), timeout=30)

    private_broker.stop()
    private_broker.start()
    await ensure_topics(harness.config, [TOPIC])
    # More than the consumer had read of this partition, so a stale position lands inside them.
    await publish_versions(harness, facility.facility_id, range(11, 41))
    await eventually(lambda: applied_in_order(harness, facility.facility_id, 40), timeout=60)


async def publish_versions(harness: Harness, facility_id: uuid.UUID, versions: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=harness.config.kafka_servers)
    await producer.start()
    try:
        for version in versions:
            key, value = envelope_bytes(facility_registered(facility_id, version))
            await producer.send_and_wait(TOPIC, value, key=key)
    finally:
        await producer.stop()


async def applied_in_order(harness: Harness, facility_id: uuid.UUID, last: int) -> bool:
    assert await harness.applied(facility_id) == list(range(1, last + 1))
    return True

"""The transactional outbox: events leave only with their committed state change, survive a
broker outage in order, and a relay that dies before marking does not cause double effects."""

import asyncio
import json

import pytest
import sqlalchemy as sa

from shared import outbox as outbox_module
from shared.audit import chain_job
from shared.database import COPIED_EVENTS, Database, DriverStatement, outbox
from shared.kafka import BrokerLink, broker_view
from shared.outbox import OutboxRelay
from tests.integration.shared.events import facility_registered
from tests.support import eventually, read_topic

TOPIC = "gmphub.registry.v1"
# The history is append-only (a trigger); a test that fakes an oversized or old row sets it aside.
APPEND_ONLY_SET_ASIDE = sa.text("SET LOCAL session_replication_role = replica")


@pytest.fixture
async def relay_parts(settings, scratch_database, private_broker):
    url = await scratch_database("registry")
    config = settings.model_copy(
        update={"registry_database_url": url, "kafka_bootstrap_servers": private_broker.bootstrap_servers}
    )
    db = Database(url)
    broker = BrokerLink(config)
    yield config, db, broker, OutboxRelay("registry", db, broker, config)
    await broker.close()
    await db.dispose()


async def unpublished_count(db: Database) -> int:
    async with db.engine.connect() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))


async def test_event_of_a_rolled_back_transaction_is_never_published(relay_parts):
    config, db, _, relay = relay_parts
    abandoned, committed = facility_registered(), facility_registered()
    async with db.unit_of_work("test:outbox") as uow:
        uow.emit(abandoned)  # the block ends without commit: rolled back
    async with db.unit_of_work("test:outbox") as uow:
        uow.emit(committed)
        await uow.commit()

    assert await relay.publish_batch() == 1
    records = await read_topic(config.kafka_servers, TOPIC)
    keys = [r.key.decode() for r in records]
    assert str(committed.facility_id) in keys
    assert str(abandoned.facility_id) not in keys
    assert await unpublished_count(db) == 0


async def test_broker_outage_delays_events_and_keeps_their_order(relay_parts, private_broker):
    config, db, _, relay = relay_parts
    running = [asyncio.create_task(relay.run()), asyncio.create_task(chain_job(db, config))]  # as a service runs them
    try:
        private_broker.stop()
        facility = facility_registered()
        for version in range(1, 6):  # state changes keep committing while the broker is away
            async with db.unit_of_work("test:outbox") as uow:
                uow.emit(facility_registered(facility.facility_id, version))
                await uow.commit()
        assert await unpublished_count(db) == 5

        async def chained():  # the history is chained while the events wait for the broker
            async with db.engine.connect() as conn:
                assert await conn.scalar(sa.select(sa.func.count(outbox.c.chain_seq))) == 5
            return True

        await eventually(chained, timeout=10)
        assert await unpublished_count(db) == 5
        private_broker.start()  # back, and empty: Tansu keeps memory only

        async def all_published():
            assert await unpublished_count(db) == 0
            return True

        await eventually(all_published, timeout=30)
    finally:
        for task in running:
            task.cancel()
    records = await read_topic(config.kafka_servers, TOPIC)
    versions = [json.loads(r.value)["data"]["version"] for r in records if r.key == facility.aggregate_id.encode()]
    assert versions == [1, 2, 3, 4, 5]


async def test_relay_dying_before_marking_publishes_again(relay_parts, monkeypatch):
    config, db, _, relay = relay_parts
    event = facility_registered()
    async with db.unit_of_work("test:outbox") as uow:
        uow.emit(event)
        await uow.commit()

    async def crash(*args, **kwargs):
        raise RuntimeError("relay killed after the broker acknowledged")

    monkeypatch.setattr(outbox_module, "mark_published", crash)
    with pytest.raises(RuntimeError):
        await relay.publish_batch()
    assert await unpublished_count(db) == 1  # not marked: it will go again

    monkeypatch.undo()
    assert await relay.publish_batch() == 1
    records = await read_topic(config.kafka_servers, TOPIC)
    ids = [json.loads(r.value)["id"] for r in records if r.key == event.aggregate_id.encode()]
    assert len(ids) == 2 and len(set(ids)) == 1  # the same event twice; consumers drop the copy by id


async def test_a_broker_that_restarted_empty_is_given_again_what_it_lost(relay_parts, private_broker):
    config, db, broker, relay = relay_parts
    before = [facility_registered() for _ in range(3)]
    for event in before:
        async with db.unit_of_work("test:outbox") as uow:
            uow.emit(event)
            await uow.commit()
    assert await relay.publish_batch() == 3

    private_broker.stop()
    private_broker.start()  # a new cluster id, no topics, nothing of what it acknowledged
    await broker.reset()
    after = facility_registered()
    async with db.unit_of_work("test:outbox") as uow:
        uow.emit(after)
        await uow.commit()

    assert await relay.publish_batch() == 4  # the three it lost, then the new one
    assert await relay.publish_batch() == 0  # once: the broker is now the one of record
    records = await read_topic(config.kafka_servers, TOPIC)
    keys = sorted(r.key.decode() for r in records)  # the broker is new: only what went to it
    assert keys == sorted(e.aggregate_id for e in [*before, after])
    partitions = {r.partition for r in records}
    assert partitions <= set(range(config.kafka_topic_partitions))


async def test_the_hub_creates_its_topic_with_its_partitions_before_publishing(relay_parts, private_broker):
    config, db, broker, relay = relay_parts
    private_broker.stop()
    private_broker.start()
    await broker.reset()
    async with db.unit_of_work("test:outbox") as uow:
        uow.emit(facility_registered())
        await uow.commit()

    assert await relay.publish_batch() == 1
    view = await broker_view((await broker.producer()).client)
    assert view.partitions[TOPIC] == config.kafka_topic_partitions  # not the broker's auto-created count


async def test_an_aggregate_that_cannot_be_published_holds_back_only_itself(relay_parts):
    config, db, _, relay = relay_parts
    stuck, other = facility_registered(), facility_registered()
    async with db.unit_of_work("test:outbox") as uow:
        uow.emit(stuck)
        uow.emit(facility_registered(stuck.facility_id, 2))
        uow.emit(other)
        await uow.commit()
    async with db.engine.begin() as conn:  # larger than the broker takes: this send fails every time
        await conn.execute(APPEND_ONLY_SET_ASIDE)
        await conn.execute(
            sa.update(outbox)
            .where(outbox.c.key == stuck.aggregate_id)
            .values(envelope=outbox.c.envelope.op("||")(sa.func.jsonb_build_object("padding", "x" * 2_000_000)))
        )

    assert await relay.publish_batch() == 1  # the other aggregate went
    assert await relay.publish_batch() == 0  # the stuck one waits; the other is not sent again
    assert await unpublished_count(db) == 2
    records = await read_topic(config.kafka_servers, TOPIC)
    ours = {stuck.aggregate_id, other.aggregate_id}
    assert [r.key.decode() for r in records if r.key.decode() in ours] == [other.aggregate_id]


async def test_what_a_lost_broker_is_given_again_stops_at_the_replay_horizon(relay_parts, private_broker):
    config, db, broker, relay = relay_parts
    old, recent = facility_registered(), facility_registered()
    for event in (old, recent):
        async with db.unit_of_work("test:outbox") as uow:
            uow.emit(event)
            await uow.commit()
    assert await relay.publish_batch() == 2
    async with db.engine.begin() as conn:  # published long before the horizon (168 h by default)
        await conn.execute(APPEND_ONLY_SET_ASIDE)
        await conn.execute(
            sa.update(outbox)
            .where(outbox.c.key == old.aggregate_id)
            .values(created_at=sa.func.now() - sa.text("interval '8 days'"))
        )

    private_broker.stop()
    private_broker.start()
    await broker.reset()

    assert await relay.publish_batch() == 1
    records = await read_topic(config.kafka_servers, TOPIC)
    assert [r.key.decode() for r in records] == [recent.aggregate_id]


async def test_a_relay_woken_while_another_publishes_waits_its_turn_then_publishes(relay_parts):
    """Replicas' relays take turns on one lock: one that finds it taken publishes once it is free,
    rather than skipping its batch and leaving its own process's events to the next poll."""
    config, db, broker, relay = relay_parts
    other = OutboxRelay("registry", db, broker, config)  # a second replica's relay
    event = facility_registered()
    async with db.unit_of_work("test:outbox") as uow:
        uow.emit(event)
        await uow.commit()
    async with db.engine.connect() as holder, holder.begin():
        await holder.execute(outbox_module.RELAY_LOCK)  # the other replica is mid-batch
        waiting = asyncio.create_task(other.publish_batch())
        await asyncio.sleep(0.5)
        assert not waiting.done() and await unpublished_count(db) == 1
    assert await asyncio.wait_for(waiting, 10) == 1
    assert await unpublished_count(db) == 0
    keys = [r.key.decode() for r in await read_topic(config.kafka_servers, TOPIC)]
    assert keys.count(str(event.facility_id)) == 1


async def test_a_row_written_with_the_events_lands_with_them_in_their_statement_or_alone(relay_parts):
    """`write_with_events` defers an insert to the events' statement at commit: both or neither."""
    _, db, _, _ = relay_parts
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE noted (id int PRIMARY KEY, note text NOT NULL)"))
    note = DriverStatement.of(sa.text("INSERT INTO noted (id, note) VALUES (:id, :note)"))
    event = facility_registered()
    async with db.unit_of_work("test:outbox") as uow:
        uow.write_with_events(note, id=1, note="with an event")
        uow.emit(event)
        await uow.commit()
    async with db.unit_of_work("test:outbox") as uow:
        uow.write_with_events(note, id=2, note="without one")
        await uow.commit()
    many = [facility_registered() for _ in range(COPIED_EVENTS)]
    async with db.unit_of_work("test:outbox") as uow:
        uow.write_with_events(note, id=3, note="with events written by COPY")
        with pytest.raises(RuntimeError, match="one row"):
            uow.write_with_events(note, id=4, note="a second row")
        for each in many:
            uow.emit(each)
        await uow.commit()
    async with db.unit_of_work("test:outbox") as uow:
        uow.write_with_events(note, id=1, note="a duplicate: its events are not written either")
        uow.emit(facility_registered())
        with pytest.raises(sa.exc.IntegrityError):
            await uow.commit()
    async with db.engine.connect() as conn:
        notes = (await conn.execute(sa.text("SELECT id, note FROM noted ORDER BY id"))).all()
        keys = (await conn.execute(sa.select(outbox.c.key).order_by(outbox.c.seq))).scalars().all()
    assert [tuple(n) for n in notes] == [(1, "with an event"), (2, "without one"), (3, "with events written by COPY")]
    assert keys == [str(e.facility_id) for e in [event, *many]]

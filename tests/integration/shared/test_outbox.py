"""The transactional outbox: events leave only with their committed state change, survive a
broker outage in order, and a relay that dies before marking does not cause double effects."""

import asyncio
import json

import pytest
import sqlalchemy as sa

from shared import outbox as outbox_module
from shared.database import Database, outbox
from shared.kafka import BrokerLink
from shared.outbox import OutboxRelay
from tests.integration.shared.events import facility_registered
from tests.support import eventually, read_topic

TOPIC = "gmphub.registry.v1"


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
    running = asyncio.create_task(relay.run())
    try:
        private_broker.stop()
        facility = facility_registered()
        for version in range(1, 6):  # state changes keep committing while the broker is away
            async with db.unit_of_work("test:outbox") as uow:
                uow.emit(facility_registered(facility.facility_id, version))
                await uow.commit()
        assert await unpublished_count(db) == 5

        private_broker.start()  # back, and empty: Tansu keeps memory only

        async def all_published():
            assert await unpublished_count(db) == 0
            return True

        await eventually(all_published, timeout=30)
    finally:
        running.cancel()
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

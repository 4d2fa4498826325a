"""Scheduling's migrations carry the slots already there: a live slot's period moves to `slot_period`
(and back onto the slot on a downgrade), and whichever table holds it, the database refuses an
overlap on a suite."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from alembic import command

from shared.database import driver_dsn
from shared.migrations import alembic_config, upgrade

BEFORE_SLOT_PERIODS = "f5c2a9e7d3b1"
INSERT_SLOT = (
    "INSERT INTO slot (id, suite_id, facility_id, starts_at, ends_at, status, version, created_at, created_by,"
    " updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, 1, now(), 'test', now(), 'test')"
)
AT = datetime(2031, 3, 3, 8, tzinfo=UTC)


def hours(start: int, end: int) -> tuple[datetime, datetime]:
    return AT + timedelta(hours=start), AT + timedelta(hours=end)


async def test_live_slots_periods_move_to_slot_period_and_back_and_overlaps_stay_refused(scratch_database):
    url = await scratch_database("scheduling")
    await asyncio.to_thread(command.downgrade, alembic_config("scheduling", url), BEFORE_SLOT_PERIODS)
    suite, facility = uuid.uuid4(), uuid.uuid4()
    slots = {"open": uuid.uuid4(), "held": uuid.uuid4(), "withdrawn": uuid.uuid4()}
    periods = {"open": hours(0, 2), "held": hours(2, 4), "withdrawn": hours(1, 3)}  # a withdrawn slot no longer counts
    conn = await asyncpg.connect(driver_dsn(url))
    try:
        for status, slot_id in slots.items():
            await conn.execute(INSERT_SLOT, slot_id, suite, facility, *periods[status], status)

        await asyncio.to_thread(upgrade, "scheduling", url)
        moved = await conn.fetch("SELECT slot_id, lower(period) AS s, upper(period) AS e FROM slot_period ORDER BY 2")
        assert [(r["slot_id"], (r["s"], r["e"])) for r in moved] == [
            (slots["open"], periods["open"]),
            (slots["held"], periods["held"]),
        ]
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(INSERT_SLOT, uuid.uuid4(), suite, facility, *hours(1, 3), "open")

        await asyncio.to_thread(command.downgrade, alembic_config("scheduling", url), BEFORE_SLOT_PERIODS)
        assert await conn.fetchval("SELECT to_regclass('slot_period')") is None
        assert await conn.fetchval("SELECT count(*) FROM slot") == 3  # the slots themselves untouched
        with pytest.raises(asyncpg.ExclusionViolationError):  # the constraint is back on the slot
            await conn.execute(INSERT_SLOT, uuid.uuid4(), suite, facility, *hours(3, 5), "open")
    finally:
        await conn.close()

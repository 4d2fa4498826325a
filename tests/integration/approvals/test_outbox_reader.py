"""Reading the outbox by seq never skips an event whose transaction commits late."""

import asyncio

from services.approvals.events import LetterOfAccessGranted
from shared.outbox_reader import OutboxReader


def event(n: int) -> LetterOfAccessGranted:
    return LetterOfAccessGranted(
        approval_id="00000000-0000-0000-0000-000000000001",
        grantee_org_id=f"ORG-{n}",
        granted_by="t",
        authority="DE-PEI",
    )


async def test_a_reader_waits_at_a_gap_until_the_lower_seq_commits(approvals):
    db = approvals.context.db
    async with db.unit_of_work("test:slow") as slow:
        slow.emit(event(1))
        await slow.flush_events()  # takes seq 1, not committed yet
        async with db.unit_of_work("test:fast") as fast:
            fast.emit(event(2))
            await fast.commit()  # seq 2 visible first
        reader = OutboxReader()
        async with db.sessions() as session:
            assert await reader.read(session, 0) == []  # seq 1 may still come: do not move past it
        await slow.commit()
    async with db.sessions() as session:
        assert [r.seq for r in await reader.read(session, 0)] == [1, 2]


async def test_a_gap_left_by_a_rollback_is_stepped_over_after_the_grace(approvals, monkeypatch):
    db = approvals.context.db
    async with db.unit_of_work("test:rolled-back") as lost:
        lost.emit(event(1))
        await lost.flush_events()
    async with db.unit_of_work("test:kept") as kept:
        kept.emit(event(2))
        await kept.commit()
    monkeypatch.setattr("shared.outbox_reader.GAP_GRACE_SECONDS", 0.2)
    reader = OutboxReader()
    async with db.sessions() as session:
        assert await reader.read(session, 0) == []
        await asyncio.sleep(0.25)
        assert [r.seq for r in await reader.read(session, 0)] == [2]


async def test_a_reader_starting_late_steps_over_an_old_gap_at_once(approvals, monkeypatch):
    """A stream resumed from an old id does not wait out the grace at every gap of the past."""
    db = approvals.context.db
    async with db.unit_of_work("test:rolled-back") as lost:
        lost.emit(event(1))
        await lost.flush_events()
    async with db.unit_of_work("test:kept") as kept:
        kept.emit(event(2))
        await kept.commit()
    async with db.sessions() as session:
        assert await OutboxReader().read(session, 0) == []  # a fresh gap: waited for
    monkeypatch.setattr("shared.outbox_reader.OLD_GAP_SECONDS", 0.0)  # as if seq 2 was written long ago
    async with db.sessions() as session:
        assert [r.seq for r in await OutboxReader().read(session, 0)] == [2]

"""Reading a service's own outbox in `seq` order, for its webhooks and its SSE stream.

A sequence number is taken when a transaction writes its events, but transactions commit in
their own order: seq 11 may be visible while seq 10 is still committing. A reader that moved
past 10 would never see it. So a reader stops at a gap and waits; only a gap that persists for
GAP_GRACE_SECONDS (a rolled-back transaction leaves one for good) is stepped over, or one whose
next row is older than OLD_GAP_SECONDS: a reader starting late (an event stream resumed from an
old id) does not wait at every gap the past left.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.database import outbox

GAP_GRACE_SECONDS = 10.0
OLD_GAP_SECONDS = 60.0  # far longer than any transaction between taking a seq and committing


class OutboxReader:
    def __init__(self) -> None:
        self._gap: tuple[int, float] | None = None  # (missing seq, first seen, monotonic)

    async def read(
        self, session: AsyncSession, after: int, limit: int = 200, *, envelopes: bool = True
    ) -> list[sa.Row[Any]]:
        """Rows after `after`, oldest first, up to the first gap still within its grace; without
        `envelopes`, their envelope is None (not read)."""
        envelope = outbox.c.envelope if envelopes else sa.null().label("envelope")
        result = await session.execute(
            sa.select(outbox.c.seq, outbox.c.type, outbox.c.key, envelope, outbox.c.created_at)
            .where(outbox.c.seq > after)
            .order_by(outbox.c.seq)
            .limit(limit)
        )
        rows = []
        for row in result:
            if row.seq != after + 1 and not self._gap_expired(after + 1, row.created_at):
                break
            rows.append(row)
            after = row.seq
        return rows

    def _gap_expired(self, missing: int, next_created_at: datetime) -> bool:
        if next_created_at < datetime.now(UTC) - timedelta(seconds=OLD_GAP_SECONDS):
            return True
        now = time.monotonic()
        if self._gap is None or self._gap[0] != missing:
            self._gap = (missing, now)
        return now - self._gap[1] >= GAP_GRACE_SECONDS

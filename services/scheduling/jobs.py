"""Background jobs of the scheduling service (run by every replica; safe side by side)."""

import asyncio
import logging

from services.scheduling import handlers
from shared.service import ServiceContext

log = logging.getLogger(__name__)


async def expire_holds_once(context: ServiceContext) -> int:
    """One round: expire every overdue hold, a batch per transaction. The expiry time lives in the
    database, so holds made before a restart expire after it all the same."""
    total = 0
    while True:
        async with context.db.unit_of_work("service:scheduling-hold-expiry") as uow:
            expired = await handlers.expire_overdue_holds(uow, context.settings.hold_ttl_seconds)
            await uow.commit()
        total += len(expired)
        if len(expired) < 100:
            return total


async def expire_holds(context: ServiceContext) -> None:
    while True:
        expired = await expire_holds_once(context)
        if expired:
            log.info("expired %d holds", expired)
        await asyncio.sleep(context.settings.job_interval_seconds)

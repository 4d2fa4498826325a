"""Background jobs of the materials service (run by every replica; safe side by side)."""

import asyncio
import logging
from datetime import date

from services.materials import inventory
from shared.service import ServiceContext

log = logging.getLogger(__name__)
LOT_EXPIRY_ACTOR = "service:materials-lot-expiry"
BATCH = 100  # lots per transaction


async def expire_lots_once(context: ServiceContext, on: date | None = None) -> int:
    """One round: mark every lot past its expiry date, a batch per transaction; return how many
    this call marked. The mark lives on the lot, so a lot that expired while no replica ran is
    marked by the next round all the same."""
    on = on or inventory.today()
    total = 0
    while True:
        async with context.db.unit_of_work(LOT_EXPIRY_ACTOR) as uow:
            expired = await inventory.expire_due_lots(uow, on, BATCH)
            await uow.commit()
        total += len(expired)
        if len(expired) < BATCH:
            return total


async def expire_lots(context: ServiceContext) -> None:
    while True:
        expired = await expire_lots_once(context)
        if expired:
            log.info("marked %d lot(s) expired", expired)
        await asyncio.sleep(context.settings.job_interval_seconds)

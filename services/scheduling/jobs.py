"""Background jobs of the scheduling service (run by every replica; safe side by side)."""

import asyncio
import logging

import sqlalchemy as sa
from sqlmodel import col

from services.scheduling import handlers, models
from shared.observability import SAGA_REQUESTS_RESENT, SAGAS_OVERDUE
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


async def ask_materials_again_once(context: ServiceContext) -> int:
    """One round of the saga's deadline, a batch per transaction; then the overdue gauge."""
    settings, total = context.settings, 0
    while True:
        async with context.db.unit_of_work("service:scheduling-saga") as uow:
            asked = await handlers.ask_materials_again(uow, settings.saga_retry_seconds, settings.saga_max_attempts)
            await uow.commit()
        total += len(asked)
        if len(asked) < 100:
            break
    async with context.db.sessions() as session:
        overdue = await session.scalar(
            sa.select(sa.func.count()).where(col(models.Booking.materials_overdue_since).is_not(None))
        )
    SAGA_REQUESTS_RESENT.labels("scheduling").inc(total)
    SAGAS_OVERDUE.labels("scheduling").set(overdue or 0)
    return total


async def ask_materials_again(context: ServiceContext) -> None:
    while True:
        if asked := await ask_materials_again_once(context):
            log.warning("asked materials again for %d bookings it has not answered", asked)
        await asyncio.sleep(context.settings.job_interval_seconds)

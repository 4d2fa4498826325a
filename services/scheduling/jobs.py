"""Background jobs of the scheduling service (run by every replica; safe side by side)."""

from functools import partial

import sqlalchemy as sa
from sqlmodel import col

from services.scheduling import handlers, models
from shared.observability import SAGA_REQUESTS_RESENT, SAGAS_OVERDUE
from shared.service import ServiceContext, in_batches, periodic


async def expire_holds_once(context: ServiceContext) -> int:
    """One round: expire every overdue hold. The expiry time lives in the database, so holds made
    before a restart expire after it all the same."""
    step = partial(handlers.expire_overdue_holds, hold_ttl_seconds=context.settings.hold_ttl_seconds)
    return await in_batches(context, "service:scheduling-hold-expiry", step)


async def ask_materials_again_once(context: ServiceContext) -> int:
    """One round of the saga's deadline; then the overdue gauge."""
    settings = context.settings
    step = partial(
        handlers.ask_materials_again, retry_seconds=settings.saga_retry_seconds, max_attempts=settings.saga_max_attempts
    )
    asked = await in_batches(context, "service:scheduling-saga", step)
    async with context.db.sessions() as session:
        overdue = await session.scalar(
            sa.select(sa.func.count()).where(
                # only bookings still awaiting materials can be overdue: the saga's partial index
                col(models.Booking.materials_requested_at).is_not(None),
                col(models.Booking.materials_overdue_since).is_not(None),
            )
        )
    SAGA_REQUESTS_RESENT.labels("scheduling").inc(asked)
    SAGAS_OVERDUE.labels("scheduling").set(overdue or 0)
    return asked


expire_holds = periodic("expire_holds", expire_holds_once, "expired %d holds")
ask_materials_again = periodic(
    "ask_materials_again", ask_materials_again_once, "asked materials again for %d bookings it has not answered"
)

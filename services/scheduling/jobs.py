"""Background jobs of the scheduling service (run by every replica; safe side by side)."""

from functools import partial

import sqlalchemy as sa

from services.scheduling import bookings, queries
from shared.observability import SAGA_REQUESTS_RESENT, SAGAS_OVERDUE
from shared.service import ServiceContext, in_batches, periodic


async def expire_holds_once(context: ServiceContext) -> int:
    """One round: expire every overdue hold. The expiry time lives in the database, so holds made
    before a restart expire after it all the same."""
    step = partial(bookings.expire_overdue_holds, hold_ttl_seconds=context.settings.hold_ttl_seconds)
    return await in_batches(context, "service:scheduling-hold-expiry", step)


async def ask_materials_again_once(context: ServiceContext) -> int:
    """One round of the saga's deadline; then the overdue gauge."""
    settings = context.settings
    step = partial(
        bookings.ask_materials_again, retry_seconds=settings.saga_retry_seconds, max_attempts=settings.saga_max_attempts
    )
    asked = await in_batches(context, "service:scheduling-saga", step)
    async with context.db.sessions() as session:
        overdue = await queries.overdue_sagas(session)
    SAGA_REQUESTS_RESENT.labels("scheduling").inc(asked)
    SAGAS_OVERDUE.labels("scheduling").set(overdue)
    return asked


# A tenth of the slots (or a thousand) changed since PostgreSQL last sampled them.
SLOTS_STALE = sa.text(
    "SELECT n_mod_since_analyze > greatest(1000, n_live_tup / 10) FROM pg_stat_user_tables WHERE relname = 'slot'"
)


async def refresh_slot_statistics_once(context: ServiceContext) -> int:
    """Have PostgreSQL sample the slots again once many changed. The slot search's plans rest on
    these statistics: a first catalogue of slots, searched before autovacuum's next round (up to a
    minute away), was planned on none and answered in seconds instead of milliseconds."""
    async with context.db.engine.connect() as conn:
        if not await conn.scalar(SLOTS_STALE):
            return 0
        await conn.execute(sa.text("ANALYZE slot"))
        await conn.commit()
    return 1


expire_holds = periodic("expire_holds", expire_holds_once, "expired %d holds")
ask_materials_again = periodic(
    "ask_materials_again", ask_materials_again_once, "asked materials again for %d bookings it has not answered"
)
refresh_slot_statistics = periodic(
    "refresh_slot_statistics", refresh_slot_statistics_once, "sampled the slots again (%d) for the search's plans"
)

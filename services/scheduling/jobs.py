"""Background jobs of the scheduling service (run by every replica; safe side by side)."""

from functools import partial

from services.scheduling import agreements, bookings, campaigns, queries, quotes, webhooks
from shared import webhooks as delivery
from shared.observability import SAGA_REQUESTS_RESENT, SAGAS_OVERDUE
from shared.service import ServiceContext, in_batches, periodic


async def expire_holds_once(context: ServiceContext) -> int:
    """One round: expire every overdue hold. The expiry time lives in the database, so holds made
    before a restart expire after it all the same."""
    step = partial(bookings.expire_overdue_holds, hold_ttl_seconds=context.settings.hold_ttl_seconds)
    expired = await in_batches(context, "service:scheduling-campaign-hold-expiry", partial(
        campaigns.expire_overdue_holds, hold_ttl_seconds=context.settings.hold_ttl_seconds
    ))  # fmt: skip
    return expired + await in_batches(context, "service:scheduling-hold-expiry", step)


async def ask_materials_again_once(context: ServiceContext) -> int:
    """One round of the saga's deadline; then the overdue gauge."""
    settings = context.settings
    step = partial(
        bookings.ask_materials_again, retry_seconds=settings.saga_retry_seconds, max_attempts=settings.saga_max_attempts
    )
    asked = await in_batches(context, "service:scheduling-saga", step)
    asked += await in_batches(context, "service:scheduling-campaign-saga", partial(
        campaigns.ask_materials_again, retry_seconds=settings.saga_retry_seconds, max_attempts=settings.saga_max_attempts
    ))  # fmt: skip
    async with context.db.sessions() as session:
        overdue = await queries.overdue_sagas(session)
    SAGA_REQUESTS_RESENT.labels("scheduling").inc(asked)
    SAGAS_OVERDUE.labels("scheduling").set(overdue)
    return asked


async def expire_agreements_once(context: ServiceContext) -> int:
    """One round: expire every agreement past its last valid day, each with its event."""
    return await in_batches(context, "service:scheduling-agreement-expiry", agreements.expire_run_out)


async def expire_quotes_once(context: ServiceContext) -> int:
    """One round: expire every offered quote past its validity, releasing its slots."""
    step = partial(quotes.expire_run_out, hold_ttl_seconds=context.settings.hold_ttl_seconds)
    return await in_batches(context, "service:scheduling-quote-expiry", step)


async def remind_expiring_holds_once(context: ServiceContext) -> int:
    """One round: remind of every hold expiring soon, a booking's or a campaign's, not reminded of yet."""
    reminder_seconds = context.settings.hold_reminder_seconds
    step = partial(bookings.remind_expiring_holds, reminder_seconds=reminder_seconds)
    reminded = await in_batches(context, "service:scheduling-hold-reminder", step)
    step = partial(campaigns.remind_expiring_holds, reminder_seconds=reminder_seconds)
    return reminded + await in_batches(context, "service:scheduling-hold-reminder", step)


expire_holds = periodic("expire_holds", expire_holds_once, "expired %d holds")
ask_materials_again = periodic(
    "ask_materials_again", ask_materials_again_once, "asked materials again for %d bookings it has not answered"
)
expire_agreements = periodic("expire_agreements", expire_agreements_once, "expired %d technical agreements")
expire_quotes = periodic("expire_quotes", expire_quotes_once, "expired %d quotes")
remind_expiring_holds = periodic("remind_expiring_holds", remind_expiring_holds_once, "reminded of %d expiring holds")
fan_out_webhooks, send_webhooks = delivery.webhook_jobs(webhooks.ACTOR, webhooks.follows)

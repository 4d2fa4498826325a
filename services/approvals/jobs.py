"""Background jobs of the approvals service (run by every replica; safe side by side): the expiry
of approvals past their `valid_until` day, change notifications past due, and the webhooks'
fan-out and sending."""

import asyncio
from datetime import UTC, datetime, timedelta

from services.approvals import approvals, notifications, webhooks
from services.approvals.outbox_reader import OutboxReader
from services.approvals.settings import settings_of
from shared.database import Bell
from shared.service import JOB_BATCH, ServiceContext, in_batches, periodic

EXPIRY_ACTOR = "service:approvals-expiry"
OVERDUE_ACTOR = "service:approvals-overdue"
# Rung by the fan-out when it made deliveries and by a sender when a delivery is done (a retry is
# scheduled, or room freed): this replica's senders look at once. Other replicas find them when due.
new_deliveries = Bell()


async def expire_due(context: ServiceContext) -> int:
    """Expire everything due today, each approval in its own transaction under its tree's lock
    (a second replica finds nothing due); return how many approvals expired."""
    today = datetime.now(UTC).date()
    ack_window = timedelta(days=settings_of(context).change_ack_days)
    async with context.db.unit_of_work(EXPIRY_ACTOR) as uow:
        due = await approvals.due_for_expiry(uow, today)
    expired = 0
    for approval_id in due:
        async with context.db.unit_of_work(EXPIRY_ACTOR) as uow:
            if await approvals.expire(uow, approval_id, today, ack_window=ack_window):
                expired += 1
            await uow.commit()
    return expired


async def flag_overdue_once(context: ServiceContext) -> int:
    """Flag the change notifications now past due, in batches; return how many."""
    return await in_batches(context, OVERDUE_ACTOR, lambda uow: notifications.flag_overdue(uow, JOB_BATCH))


async def fan_out_webhooks(context: ServiceContext) -> None:
    """Keep delivery rows up with the outbox, woken by every commit of this replica that wrote events."""
    reader = OutboxReader()
    while True:
        ticket = context.db.new_events.ticket()
        async with context.db.unit_of_work(webhooks.ACTOR) as uow:
            read, made = await webhooks.fan_out(uow, reader)
            await uow.commit()
        if made:
            new_deliveries.ring()
        if read < webhooks.BATCH:
            await context.db.new_events.wait(context.settings.job_interval_seconds, ticket)


async def send_webhooks(context: ServiceContext) -> None:
    """Send due deliveries, each in its own task, up to MAX_IN_FLIGHT at once: a dead endpoint
    only ever occupies its own tasks, and others keep being claimed and sent meanwhile."""
    sender = webhooks.Sender(context.db, settings_of(context))
    in_flight: set[asyncio.Task] = set()

    def done(task: asyncio.Task) -> None:
        in_flight.discard(task)
        new_deliveries.ring()

    try:
        while True:
            ticket = new_deliveries.ticket()
            room = webhooks.MAX_IN_FLIGHT - len(in_flight)
            for delivery in await sender.claim(room) if room > 0 else []:
                task = asyncio.create_task(sender.deliver(delivery))
                in_flight.add(task)
                task.add_done_callback(done)
            await new_deliveries.wait(await sender.next_due_in(), ticket)
    finally:
        for task in in_flight:
            task.cancel()
        await sender.close()


expire_approvals = periodic("expire_approvals", expire_due, "expired %d approvals")
flag_overdue_notifications = periodic(
    "flag_overdue_notifications", flag_overdue_once, "%d change notifications overdue"
)

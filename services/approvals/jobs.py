"""Background jobs of the approvals service (run by every replica; safe side by side): the expiry
of approvals past their `valid_until` day, change notifications past due, and the webhooks'
fan-out and sending."""

from datetime import UTC, datetime, timedelta

from services.approvals import approvals, notifications, webhooks
from services.approvals.settings import settings_of
from shared import webhooks as delivery
from shared.service import JOB_BATCH, ServiceContext, in_batches, periodic

EXPIRY_ACTOR = "service:approvals-expiry"
OVERDUE_ACTOR = "service:approvals-overdue"


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


expire_approvals = periodic("expire_approvals", expire_due, "expired %d approvals")
flag_overdue_notifications = periodic(
    "flag_overdue_notifications", flag_overdue_once, "%d change notifications overdue"
)
fan_out_webhooks, send_webhooks = delivery.webhook_jobs(webhooks.ACTOR, webhooks.follows)

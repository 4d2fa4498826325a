"""The expiry job: approvals past their `valid_until` day expire, each in its own transaction
under its tree's lock (safe with several replicas: a second one finds nothing due)."""

from datetime import UTC, datetime

from services.approvals import handlers
from services.approvals.signals import new_events
from shared.service import ServiceContext, periodic

ACTOR = "service:approvals-expiry"


async def expire_due(context: ServiceContext) -> int:
    """Expire everything due today; return how many approvals expired."""
    today = datetime.now(UTC).date()
    async with context.db.unit_of_work(ACTOR) as uow:
        due = await handlers.due_for_expiry(uow, today)
    expired = 0
    for approval_id in due:
        async with context.db.unit_of_work(ACTOR) as uow:
            if await handlers.expire(uow, approval_id, today):
                expired += 1
            await uow.commit()
    if expired:
        new_events.ring()
    return expired


expire_approvals = periodic("expire_approvals", expire_due, "expired %d approvals")

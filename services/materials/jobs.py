"""Background jobs of the materials service (run by every replica; safe side by side)."""

from datetime import date

from services.materials import inventory, models
from shared.service import JOB_BATCH, ServiceContext, in_batches, periodic

LOT_EXPIRY_ACTOR = "service:materials-lot-expiry"


async def expire_lots_once(context: ServiceContext, on: date | None = None) -> int:
    """One round: mark every lot past its expiry date; return how many this call marked. The mark
    lives on the lot, so a lot that expired while no replica ran is marked by the next round."""
    day = on or models.today()
    return await in_batches(context, LOT_EXPIRY_ACTOR, lambda uow: inventory.expire_due_lots(uow, day, JOB_BATCH))


expire_lots = periodic("expire_lots", expire_lots_once, "marked %d lot(s) expired")

"""Background jobs of the registry service (run by every replica; safe side by side)."""

from datetime import date

from services.registry import certificates
from shared.service import ServiceContext, periodic

EXPIRY_ACTOR = "service:registry-expiry"


async def expire_certificates(context: ServiceContext, on: date | None = None) -> int:
    """One round: every certificate in force past its expiry date (today's, unless `on` is given)
    becomes `expired`, each in a transaction of its own and each once however many replicas run
    it; return how many this round expired."""
    day = on or certificates.today()
    async with context.db.unit_of_work(EXPIRY_ACTOR) as uow:
        due = await certificates.due_for_expiry(uow, day)
    expired = 0
    for certificate_id, facility_id in due:
        async with context.db.unit_of_work(EXPIRY_ACTOR) as uow:
            if await certificates.expire_certificate(uow, certificate_id, facility_id, day):
                await uow.commit()
                expired += 1
    return expired


certificate_expiry_job = periodic("certificate_expiry_job", expire_certificates, "expired %d certificate(s)")

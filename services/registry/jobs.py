"""Background jobs of the registry service (run by every replica; safe side by side)."""

from services.registry.certificates import expire_certificates, today
from shared.service import ServiceContext, periodic


async def expire_certificates_today(context: ServiceContext) -> int:
    """One round: certificates past their expiry date become `expired`, each once however many
    replicas run it (a conditional update)."""
    return await expire_certificates(context.db, today())


certificate_expiry_job = periodic("certificate_expiry_job", expire_certificates_today, "expired %d certificate(s)")

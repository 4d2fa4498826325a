"""Certificate use cases: issue, suspend, reinstate, revoke, expire, record non-compliance. Each
locks the certificate's facility first (the aggregate) and bumps its version. The caller commits."""

from datetime import UTC, date, datetime
from uuid import UUID

from services.registry import events, models
from services.registry.domain import CertificateStatus, CertificateTerms, next_status
from services.registry.facilities import lock_facility, touch
from services.registry.repository import RegistryUnitOfWork
from shared.auth import Principal
from shared.events import Event
from shared.problems import Conflict, NotFound

EVENT_OF_ACTION: dict[str, type[Event]] = {
    "suspend": events.CertificateSuspended,
    "reinstate": events.CertificateReinstated,
    "revoke": events.CertificateRevoked,
}


def today() -> date:
    return datetime.now(UTC).date()


def certificate_state(certificate: models.Certificate) -> events.CertificateState:
    return events.CertificateState.model_validate(certificate, from_attributes=True)


async def issue_certificate(uow: RegistryUnitOfWork, facility_id: UUID, terms: CertificateTerms) -> models.Certificate:
    facility = await lock_facility(uow, facility_id)
    if await uow.certificates.number_taken(terms.authority, terms.number):
        raise Conflict(f"{terms.authority} already issued a certificate numbered {terms.number!r}.")
    certificate = models.Certificate(
        facility_id=facility_id,
        number=terms.number,
        authority=terms.authority,
        issued_on=terms.issued_on,
        expires_on=terms.expires_on,
        atmp_types=list(terms.atmp_types),
        operations=list(terms.operations),
        status=CertificateStatus.VALID.value,
        status_changed_by=uow.actor,
        created_by=uow.actor,
    )
    uow.certificates.add(certificate)
    version = touch(uow, facility)
    uow.emit(
        events.CertificateIssued(facility_id=facility_id, version=version, certificate=certificate_state(certificate))
    )
    return certificate


async def change_status(
    uow: RegistryUnitOfWork, principal: Principal, certificate_id: UUID, action: str, reason: str | None, *, on: date
) -> models.Certificate:
    """Apply `action` (suspend, reinstate, revoke) to a certificate, if `principal` acts for the
    authority that issued it."""
    certificate = await uow.certificates.get(certificate_id)
    principal.require_authority(certificate.authority)
    facility = await lock_facility(uow, certificate.facility_id, must_be_active=False)
    certificate = await uow.certificates.lock(certificate_id)
    target = next_status(certificate.status, action, reason=reason, expires_on=certificate.expires_on, today=on)
    certificate.status = target.value
    certificate.reason = reason
    certificate.status_changed_at = models.now()
    certificate.status_changed_by = uow.actor or "unknown"
    version = touch(uow, facility)
    event_class = EVENT_OF_ACTION[action]
    uow.emit(event_class(facility_id=facility.id, version=version, certificate=certificate_state(certificate)))
    return certificate


async def record_noncompliance(
    uow: RegistryUnitOfWork, facility_id: UUID, authority: str, summary: str, certificate_id: UUID | None
) -> models.NonComplianceStatement:
    facility = await lock_facility(uow, facility_id, must_be_active=False)
    if certificate_id is not None:
        certificate = await uow.certificates.find(certificate_id)
        if certificate is None or certificate.facility_id != facility_id:
            raise NotFound(f"Facility {facility_id} has no certificate {certificate_id}.")
    statement = models.NonComplianceStatement(
        facility_id=facility_id,
        certificate_id=certificate_id,
        authority=authority,
        summary=summary,
        recorded_by=uow.actor,
    )
    uow.noncompliance.add(statement)
    version = touch(uow, facility)
    uow.emit(
        events.NonComplianceRecorded(
            facility_id=facility_id,
            version=version,
            statement_id=statement.id,
            authority=authority,
            summary=summary,
            recorded_at=statement.recorded_at,
        )
    )
    return statement


# --- expiry --------------------------------------------------------------------------------------


async def due_for_expiry(uow: RegistryUnitOfWork, on: date) -> list[tuple[UUID, UUID]]:
    """(certificate, facility) of each certificate in force whose expiry date is before `on`."""
    return await uow.certificates.in_force_past(on)


async def expire_certificate(uow: RegistryUnitOfWork, certificate_id: UUID, facility_id: UUID, on: date) -> bool:
    """Turn a certificate in force whose expiry date is before `on` into `expired`, with its
    event; False if it no longer is (another replica or a regulator got there first). The change
    is one conditional update, so however many replicas run at once, the event is emitted once."""
    facility = await lock_facility(uow, facility_id, must_be_active=False)  # the facility, then its certificate
    certificate = await uow.certificates.expire(certificate_id, on, by=uow.actor)
    if certificate is None:
        return False
    version = touch(uow, facility)
    uow.emit(
        events.CertificateExpired(facility_id=facility_id, version=version, certificate=certificate_state(certificate))
    )
    return True

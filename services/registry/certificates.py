"""Certificate use cases (issue, suspend, reinstate, revoke, record non-compliance) and the
expiry job. The caller commits, except the job, which is its own entrypoint."""

from datetime import UTC, date, datetime
from uuid import UUID

import sqlalchemy as sa

from services.registry import events, models
from services.registry.domain import EXPIRABLE, CertificateStatus, CertificateTerms, next_status
from services.registry.handlers import lock_facility, touch
from shared.database import Database, UnitOfWork
from shared.errors import Conflict, NotFound
from shared.events import Event

EVENT_OF_ACTION: dict[str, type[Event]] = {
    "suspend": events.CertificateSuspended,
    "reinstate": events.CertificateReinstated,
    "revoke": events.CertificateRevoked,
    "expire": events.CertificateExpired,
}


def today() -> date:
    return datetime.now(UTC).date()


def certificate_state(certificate: models.Certificate) -> events.CertificateState:
    return events.CertificateState(
        certificate_id=certificate.id,
        facility_id=certificate.facility_id,
        number=certificate.number,
        authority=certificate.authority,
        issued_on=certificate.issued_on,
        expires_on=certificate.expires_on,
        atmp_types=list(certificate.atmp_types),
        operations=list(certificate.operations),
        status=certificate.status,
        reason=certificate.reason,
    )


async def get_certificate(uow: UnitOfWork, certificate_id: UUID) -> models.Certificate:
    certificate = await uow.session.get(models.Certificate, certificate_id)
    if certificate is None:
        raise NotFound(f"No certificate {certificate_id}.")
    return certificate


async def issue_certificate(uow: UnitOfWork, facility_id: UUID, terms: CertificateTerms) -> models.Certificate:
    facility = await lock_facility(uow, facility_id)
    taken = await uow.session.scalar(
        sa.select(models.Certificate.id).where(
            models.Certificate.authority == terms.authority, models.Certificate.number == terms.number
        )
    )
    if taken:
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
    uow.session.add(certificate)
    version = touch(uow, facility)
    uow.emit(
        events.CertificateIssued(facility_id=facility_id, version=version, certificate=certificate_state(certificate))
    )
    return certificate


async def change_status(
    uow: UnitOfWork, certificate: models.Certificate, action: str, reason: str | None, *, on: date
) -> models.Certificate:
    """Apply `action` to a certificate the caller was allowed to touch (authority checked)."""
    facility = await lock_facility(uow, certificate.facility_id, must_be_active=False)
    certificate = await uow.session.get(
        models.Certificate, certificate.id, with_for_update=True, populate_existing=True
    )
    target = next_status(certificate.status, action, reason=reason, expires_on=certificate.expires_on, today=on)
    certificate.status = target.value
    certificate.reason = reason
    certificate.status_changed_at = models.now()
    certificate.status_changed_by = uow.actor or "unknown"
    uow.session.add(certificate)
    version = touch(uow, facility)
    event_class = EVENT_OF_ACTION[action]
    uow.emit(event_class(facility_id=facility.id, version=version, certificate=certificate_state(certificate)))
    return certificate


async def record_noncompliance(
    uow: UnitOfWork, facility_id: UUID, authority: str, summary: str, certificate_id: UUID | None
) -> models.NonComplianceStatement:
    facility = await lock_facility(uow, facility_id, must_be_active=False)
    if certificate_id is not None:
        certificate = await uow.session.get(models.Certificate, certificate_id)
        if certificate is None or certificate.facility_id != facility_id:
            raise NotFound(f"Facility {facility_id} has no certificate {certificate_id}.")
    statement = models.NonComplianceStatement(
        facility_id=facility_id,
        certificate_id=certificate_id,
        authority=authority,
        summary=summary,
        recorded_by=uow.actor,
    )
    uow.session.add(statement)
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


async def expire_certificates(db: Database, on: date) -> int:
    """Turn every certificate in force whose expiry date is before `on` into `expired`; return
    how many this call expired. Safe with several replicas: each certificate is expired by a
    conditional UPDATE (still in force, still past its date) in the same transaction as its
    event, so however many run at once, the event is emitted exactly once."""
    async with db.sessions() as session:
        due = (
            await session.execute(
                sa.select(models.Certificate.id, models.Certificate.facility_id).where(
                    models.Certificate.status.in_([s.value for s in EXPIRABLE]), models.Certificate.expires_on < on
                )
            )
        ).all()
    expired = 0
    for certificate_id, facility_id in due:
        async with db.unit_of_work("service:registry-expiry") as uow:
            # lock order as everywhere else: the facility, then its certificate
            facility = await lock_facility(uow, facility_id, must_be_active=False)
            won = await uow.session.scalar(
                sa.update(models.Certificate)
                .where(
                    models.Certificate.id == certificate_id,
                    models.Certificate.status.in_([s.value for s in EXPIRABLE]),
                    models.Certificate.expires_on < on,
                )
                .values(
                    status=CertificateStatus.EXPIRED.value,
                    reason="passed its expiry date",
                    status_changed_at=models.now(),
                    status_changed_by=uow.actor,
                )
                .returning(models.Certificate.id)
            )
            if won is None:
                continue  # another replica (or a regulator) got there first
            certificate = await uow.session.get(models.Certificate, certificate_id, populate_existing=True)
            version = touch(uow, facility)
            state = certificate_state(certificate)
            uow.emit(events.CertificateExpired(facility_id=facility_id, version=version, certificate=state))
            await uow.commit()
            expired += 1
    return expired

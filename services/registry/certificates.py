"""Certificate use cases: issue, suspend, reinstate, revoke, expire, record non-compliance. Each
locks the certificate's facility first (the aggregate) and bumps its version. Issuing, suspending,
reinstating and revoking are signed: an insert-only signature record, also in the event. The
caller commits."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID

from services.registry import events, models
from services.registry.domain import (
    CertificateStatus,
    CertificateTerms,
    check_competent,
    eudragmdp_reference,
    may_change_certificate,
    next_status,
)
from services.registry.facilities import lock_facility, touch
from services.registry.repository import RegistryUnitOfWork
from shared.auth import Principal
from shared.events import Event
from shared.problems import Conflict, NotFound
from shared.signatures import state_sha256

EVENT_OF_ACTION: dict[str, type[Event]] = {
    "suspend": events.CertificateSuspended,
    "reinstate": events.CertificateReinstated,
    "revoke": events.CertificateRevoked,
}
# What a signature records as done, and means when the signer states no meaning of their own.
SIGNED_AS = {"issue": "issued", "suspend": "suspended", "reinstate": "reinstated", "revoke": "revoked"}


@dataclass(frozen=True)
class SignatureRequest:
    """What the regulator states when signing: what the signature means (the action's word if
    they say nothing) and why (needed to suspend or revoke)."""

    meaning: str | None = None
    reason: str | None = None


def today() -> date:
    return datetime.now(UTC).date()


def certificate_state(certificate: models.Certificate) -> events.CertificateState:
    return events.CertificateState.model_validate(certificate, from_attributes=True)


def sign(
    uow: RegistryUnitOfWork, principal: Principal, certificate: models.Certificate, action: str, version: int,
    req: SignatureRequest, *, authority: str,
) -> events.Signature:  # fmt: skip
    """Record the signature on the certificate as it now stands (insert-only) and return it for the event."""
    signature = events.Signature(
        signer=principal.actor, signer_name=principal.display_name, authority=authority,
        meaning=req.meaning or SIGNED_AS[action], reason=req.reason, signed_at=models.now(),
        state_sha256=state_sha256(certificate_state(certificate)),
    )  # fmt: skip
    uow.signatures.add(
        models.CertificateSignature(
            certificate_id=certificate.id, facility_id=certificate.facility_id, facility_version=version,
            action=SIGNED_AS[action], **signature.model_dump(),
        )
    )  # fmt: skip
    return signature


async def issue_certificate(
    uow: RegistryUnitOfWork, principal: Principal, facility_id: UUID, terms: CertificateTerms, req: SignatureRequest
) -> models.Certificate:
    facility = await lock_facility(uow, facility_id)
    check_competent(terms.authority, facility.country, act="issue a GMP certificate")
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
        eudragmdp_ref=terms.eudragmdp_ref,
        status=CertificateStatus.VALID.value,
        status_changed_by=uow.actor,
        created_by=uow.actor,
    )
    uow.certificates.add(certificate)
    version = touch(uow, facility)
    signature = sign(uow, principal, certificate, "issue", version, req, authority=certificate.authority)
    uow.emit(
        events.CertificateIssued(
            facility_id=facility_id, version=version, certificate=certificate_state(certificate), signature=signature
        )
    )
    return certificate


async def change_status(
    uow: RegistryUnitOfWork, principal: Principal, certificate_id: UUID, action: str, req: SignatureRequest, *, on: date
) -> models.Certificate:
    """Apply `action` (suspend, reinstate, revoke) to a certificate, signed, if `principal` acts for
    the authority that issued it (an admin acts for it too) or, in an EU/EEA state, for one of the
    site's own authorities; the authority acting must be competent for the site."""
    reason = req.reason
    certificate = await uow.certificates.get(certificate_id)
    facility = await lock_facility(uow, certificate.facility_id, must_be_active=False)
    acting = certificate.authority if principal.is_admin else (principal.authority or "")
    if not may_change_certificate(certificate.authority, acting, facility.country):
        principal.require_authority(certificate.authority)
    check_competent(acting, facility.country, act=f"{action} a GMP certificate")
    certificate = await uow.certificates.lock(certificate_id)
    target = next_status(certificate.status, action, reason=reason, expires_on=certificate.expires_on, today=on)
    certificate.status = target.value
    certificate.reason = reason
    certificate.status_changed_at = models.now()
    certificate.status_changed_by = uow.actor or "unknown"
    version = touch(uow, facility)
    signature = sign(uow, principal, certificate, action, version, req, authority=acting)
    event_class = EVENT_OF_ACTION[action]
    uow.emit(
        event_class(
            facility_id=facility.id, version=version, certificate=certificate_state(certificate), signature=signature
        )
    )
    return certificate


@dataclass(frozen=True)
class Statement:
    """A non-compliance statement as its authority states it."""

    authority: str
    summary: str
    certificate_id: UUID | None = None
    eudragmdp_ref: str | None = None


async def record_noncompliance(
    uow: RegistryUnitOfWork, facility_id: UUID, said: Statement
) -> models.NonComplianceStatement:
    facility = await lock_facility(uow, facility_id, must_be_active=False)
    check_competent(said.authority, facility.country, act="record a GMP non-compliance statement")
    certificate_id, authority, summary = said.certificate_id, said.authority, said.summary
    if certificate_id is not None:
        certificate = await uow.certificates.find(certificate_id)
        if certificate is None or certificate.facility_id != facility_id:
            raise NotFound(f"Facility {facility_id} has no certificate {certificate_id}.")
    statement = models.NonComplianceStatement(
        facility_id=facility_id,
        certificate_id=certificate_id,
        authority=authority,
        eudragmdp_ref=eudragmdp_reference(said.eudragmdp_ref),
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
            eudragmdp_ref=statement.eudragmdp_ref,
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

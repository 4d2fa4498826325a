"""Read side of the registry: facility search, a facility with its suites, certificates and
non-compliance statements, its history, one certificate with its signatures, and the public directory."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry import models
from services.registry.domain import CertificateStatus, check_known_authority, check_term, eudragmdp_reference, oms_id
from shared.database import event_history, get_or_404, outbox
from shared.problems import NotFound, Unprocessable


@dataclass(frozen=True)
class FacilitySearch:
    """Filters of `GET /v1/facilities`; vocabulary terms are checked like everywhere else."""

    country: str | None = None
    atmp_type: str | None = None
    process: str | None = None
    cleanroom_grade: str | None = None
    operation: str | None = None
    certificate_status: str | None = None
    q: str | None = None
    oms_organisation_id: str | None = None
    oms_location_id: str | None = None
    eudragmdp_ref: str | None = None
    include_inactive: bool = False
    page: int = 1
    page_size: int = 20

    def __post_init__(self) -> None:
        # an OMS id is searched as it is stored: prefixed, so bare digits find it too
        organisation = oms_id(self.oms_organisation_id, "ORG", field_name="oms_organisation_id")
        object.__setattr__(self, "oms_organisation_id", organisation)
        object.__setattr__(self, "oms_location_id", oms_id(self.oms_location_id, "LOC", field_name="oms_location_id"))
        object.__setattr__(self, "eudragmdp_ref", eudragmdp_reference(self.eudragmdp_ref))
        if self.country:
            check_term("countries", self.country, field_name="country")
        if self.atmp_type:
            check_term("atmp_types", self.atmp_type, field_name="atmp_type")
        if self.process:
            check_term("processes", self.process, field_name="process")
        if self.cleanroom_grade:
            check_term("cleanroom_grades", self.cleanroom_grade, field_name="cleanroom_grade")
        if self.operation:
            check_term("operations", self.operation, field_name="operation")
        if self.certificate_status and self.certificate_status not in set(CertificateStatus):
            allowed = [s.value for s in CertificateStatus]
            raise Unprocessable(
                f"Unknown certificate_status {self.certificate_status!r}; allowed: {', '.join(allowed)}.",
                field="certificate_status",
                term=self.certificate_status,
                allowed=allowed,
            )

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        facility, suite, certificate = models.Facility, models.Suite, models.Certificate
        where: list[sa.ColumnElement[bool]] = []
        if not self.include_inactive:
            where.append(facility.active)
        if self.country:
            where.append(facility.country == self.country)
        if self.oms_organisation_id:
            where.append(facility.oms_organisation_id == self.oms_organisation_id)
        if self.oms_location_id:
            where.append(facility.oms_location_id == self.oms_location_id)
        if ref := self.eudragmdp_ref:  # the facility's own, or one of its certificates' or statements'
            statement = models.NonComplianceStatement
            where.append(
                sa.or_(
                    facility.eudragmdp_ref == ref,
                    sa.exists().where(certificate.facility_id == facility.id, certificate.eudragmdp_ref == ref),
                    sa.exists().where(statement.facility_id == facility.id, statement.eudragmdp_ref == ref),
                )
            )
        if self.q:
            pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(sa.or_(facility.legal_name.ilike(pattern), facility.city.ilike(pattern)))
        # capability: one live suite has all the asked-for capabilities
        capability = []
        if self.atmp_type:
            capability.append(suite.atmp_types.contains([self.atmp_type]))
        if self.process:
            capability.append(suite.processes.contains([self.process]))
        if self.cleanroom_grade:
            capability.append(suite.cleanroom_grade == self.cleanroom_grade)
        if capability:
            where.append(sa.exists().where(suite.facility_id == facility.id, sa.not_(suite.retired), *capability))
        # certification: one certificate in the asked-for status (valid when only an operation is asked)
        if self.operation or self.certificate_status:
            certified = [certificate.status == (self.certificate_status or CertificateStatus.VALID.value)]
            if self.operation:
                certified.append(certificate.operations.contains([self.operation]))
            where.append(sa.exists().where(certificate.facility_id == facility.id, *certified))
        return where


async def search_facilities(session: AsyncSession, search: FacilitySearch) -> tuple[list[models.Facility], int]:
    where = search.conditions()
    total = await session.scalar(sa.select(sa.func.count()).select_from(models.Facility).where(*where))
    rows = await session.scalars(
        sa.select(models.Facility)
        .where(*where)
        .order_by(models.Facility.legal_name, models.Facility.id)
        .offset((search.page - 1) * search.page_size)
        .limit(search.page_size)
    )
    return list(rows), total or 0


@dataclass
class FacilityRecord:
    facility: models.Facility
    suites: list[models.Suite]
    certificates: list[models.Certificate]
    noncompliance: list[models.NonComplianceStatement]


async def facility_record(session: AsyncSession, facility_id: UUID) -> FacilityRecord:
    facility = await get_or_404(session, models.Facility, facility_id, "facility")
    suites = await session.scalars(
        sa.select(models.Suite).where(models.Suite.facility_id == facility_id).order_by(models.Suite.created_at)
    )
    certificates = await session.scalars(
        sa.select(models.Certificate)
        .where(models.Certificate.facility_id == facility_id)
        .order_by(models.Certificate.issued_on.desc(), models.Certificate.created_at.desc())
    )
    statements = await session.scalars(
        sa.select(models.NonComplianceStatement)
        .where(models.NonComplianceStatement.facility_id == facility_id)
        .order_by(models.NonComplianceStatement.recorded_at)
    )
    return FacilityRecord(facility, list(suites), list(certificates), list(statements))


async def facility_history(session: AsyncSession, facility_id: UUID) -> list[dict[str, Any]]:
    """Every event of the facility (its suites and certificates included), oldest first."""
    await get_or_404(session, models.Facility, facility_id, "facility")
    return await event_history(session, str(facility_id))


async def certificate(session: AsyncSession, certificate_id: UUID) -> models.Certificate:
    return await get_or_404(session, models.Certificate, certificate_id, "certificate")


async def certificates(
    session: AsyncSession, *, eudragmdp_ref: str | None, authority: str | None, offset: int, limit: int
) -> list[models.Certificate]:
    """The certificates with this EudraGMDP reference and/or of this authority, newest first: `limit`
    of them after the first `offset`."""
    where = []
    if ref := eudragmdp_reference(eudragmdp_ref):
        where.append(models.Certificate.eudragmdp_ref == ref)
    if authority:
        where.append(models.Certificate.authority == check_known_authority(authority).code)
    if not where:
        raise Unprocessable("Search certificates by eudragmdp_ref or authority.", fields=["eudragmdp_ref", "authority"])
    found = await session.scalars(
        sa.select(models.Certificate)
        .where(*where)
        .order_by(models.Certificate.issued_on.desc(), models.Certificate.created_at.desc(), models.Certificate.id)
        .offset(offset)
        .limit(limit)
    )
    return list(found)


async def signatures(session: AsyncSession, certificate_id: UUID) -> list[models.CertificateSignature]:
    """The signatures on a certificate, oldest first."""
    signature = models.CertificateSignature
    found = await session.scalars(
        sa.select(signature).where(signature.certificate_id == certificate_id).order_by(signature.signed_at)
    )
    return list(found)


# --- the public directory ------------------------------------------------------------------------


def in_directory() -> list[sa.ColumnElement[bool]]:
    """The directory lists an active facility holding a certificate valid today (in force through
    its expiry day, as scheduling counts it): the one that may be booked."""
    facility, certificate = models.Facility, models.Certificate
    return [
        facility.active,
        sa.exists().where(
            certificate.facility_id == facility.id,
            certificate.status == CertificateStatus.VALID.value,
            certificate.expires_on >= sa.func.current_date(),
        ),
    ]


@dataclass
class Listed:
    """A facility of the directory with its live suites and its certificates (all, or those valid
    today), and each certificate's status changes (id -> (status, when), oldest first)."""

    facility: models.Facility
    suites: list[models.Suite]
    certificates: list[models.Certificate]
    changes: dict[UUID, list[tuple[str, Any]]] = field(default_factory=dict)


async def directory(session: AsyncSession, search: FacilitySearch) -> tuple[list[Listed], int]:
    """A page of the directory matching the search's capability filters, by name."""
    where = [*search.conditions(), *in_directory()]
    total = await session.scalar(sa.select(sa.func.count()).select_from(models.Facility).where(*where))
    found = list(
        await session.scalars(
            sa.select(models.Facility)
            .where(*where)
            .order_by(models.Facility.legal_name, models.Facility.id)
            .offset((search.page - 1) * search.page_size)
            .limit(search.page_size)
        )
    )
    ids = [f.id for f in found]
    suites, certificates = defaultdict(list), defaultdict(list)
    for suite in await session.scalars(
        sa.select(models.Suite)
        .where(models.Suite.facility_id.in_(ids), sa.not_(models.Suite.retired))
        .order_by(models.Suite.created_at)
    ):
        suites[suite.facility_id].append(suite)
    for certificate in await session.scalars(
        sa.select(models.Certificate)
        .where(
            models.Certificate.facility_id.in_(ids),
            models.Certificate.status == CertificateStatus.VALID.value,
            models.Certificate.expires_on >= sa.func.current_date(),
        )
        .order_by(models.Certificate.expires_on.desc())
    ):
        certificates[certificate.facility_id].append(certificate)
    return [Listed(f, suites[f.id], certificates[f.id]) for f in found], total or 0


async def directory_entry(session: AsyncSession, facility_id: UUID) -> Listed:
    """One facility of the directory: its live suites, every certificate it was issued and their
    status changes (from its history). One that is not in the directory is not found, whether it
    exists or not, so the answer says nothing of it."""
    listed = await session.scalar(sa.select(models.Facility).where(models.Facility.id == facility_id, *in_directory()))
    if listed is None:
        raise NotFound(f"No facility {facility_id} in the public directory.")
    record = await facility_record(session, facility_id)
    # Every certificate event of the facility, however long its history: only the status and when.
    certificate, envelope = outbox.c.envelope["data"]["certificate"], outbox.c.envelope
    rows = await session.execute(
        sa.select(certificate["certificate_id"].astext, certificate["status"].astext, envelope["time"].astext)
        .where(outbox.c.key == str(facility_id), outbox.c.type.like("gmphub.registry.certificate.%"))
        .order_by(outbox.c.seq)
    )
    changes: dict[UUID, list[tuple[str, Any]]] = defaultdict(list)
    for certificate_id, status, at in rows:
        changes[UUID(certificate_id)].append((status, at))
    suites = [s for s in record.suites if not s.retired]
    return Listed(record.facility, suites, record.certificates, dict(changes))

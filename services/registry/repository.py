"""The registry's unit of work and its repositories: the SQL that loads and saves what the use
cases change. Rows loaded here are saved by the unit of work's commit (the session tracks them);
new rows are added. Unit tests swap in tests/unit/registry/fakes.py."""

from datetime import date
from uuid import UUID

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry import models
from services.registry.domain import EXPIRABLE, CertificateStatus
from shared.database import UnitOfWork, get_or_404
from shared.problems import NotFound

IN_FORCE = [s.value for s in EXPIRABLE]


class Facilities:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, facility: models.Facility) -> None:
        self.session.add(facility)

    async def lock(self, facility_id: UUID) -> models.Facility:
        """The facility, locked for this transaction (the aggregate's single writer), as it is now."""
        facility = await self.session.get(models.Facility, facility_id, with_for_update=True, populate_existing=True)
        if facility is None:
            raise NotFound(f"No facility {facility_id}.")
        return facility

    async def at_location(self, oms_location_id: str, *, other_than: UUID | None = None) -> UUID | None:
        """The active facility (other than `other_than`) registered at this OMS location, if any."""
        query = sa.select(models.Facility.id).where(
            models.Facility.oms_location_id == oms_location_id, models.Facility.active
        )
        if other_than is not None:
            query = query.where(models.Facility.id != other_than)
        return await self.session.scalar(query)


class Suites:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, suite: models.Suite) -> None:
        self.session.add(suite)

    async def lock(self, suite_id: UUID) -> models.Suite | None:
        return await self.session.get(models.Suite, suite_id, with_for_update=True, populate_existing=True)

    async def name_taken(self, facility_id: UUID, name: str, *, other_than: UUID | None = None) -> bool:
        """A live suite of the facility (other than `other_than`) has this name."""
        query = sa.select(models.Suite.id).where(
            models.Suite.facility_id == facility_id, models.Suite.name == name, sa.not_(models.Suite.retired)
        )
        if other_than is not None:
            query = query.where(models.Suite.id != other_than)
        return await self.session.scalar(query) is not None


class Certificates:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, certificate: models.Certificate) -> None:
        self.session.add(certificate)

    async def get(self, certificate_id: UUID) -> models.Certificate:
        return await get_or_404(self.session, models.Certificate, certificate_id, "certificate")

    async def find(self, certificate_id: UUID) -> models.Certificate | None:
        return await self.session.get(models.Certificate, certificate_id)

    async def lock(self, certificate_id: UUID) -> models.Certificate:
        certificate = await self.session.get(
            models.Certificate, certificate_id, with_for_update=True, populate_existing=True
        )
        if certificate is None:
            raise NotFound(f"No certificate {certificate_id}.")
        return certificate

    async def number_taken(self, authority: str, number: str) -> bool:
        query = sa.select(models.Certificate.id).where(
            models.Certificate.authority == authority, models.Certificate.number == number
        )
        return await self.session.scalar(query) is not None

    async def in_force_past(self, on: date) -> list[tuple[UUID, UUID]]:
        """(certificate, facility) of every certificate still in force whose expiry date is before `on`."""
        result = await self.session.execute(
            sa.select(models.Certificate.id, models.Certificate.facility_id).where(
                models.Certificate.status.in_(IN_FORCE), models.Certificate.expires_on < on
            )
        )
        return [(certificate_id, facility_id) for certificate_id, facility_id in result]

    async def expire(self, certificate_id: UUID, on: date, *, by: str | None) -> models.Certificate | None:
        """Expire the certificate if it is still in force and past its date on `on`, in one
        conditional UPDATE; None if it is not (another replica or a regulator got there first)."""
        won = await self.session.scalar(
            sa.update(models.Certificate)
            .where(
                models.Certificate.id == certificate_id,
                models.Certificate.status.in_(IN_FORCE),
                models.Certificate.expires_on < on,
            )
            .values(
                status=CertificateStatus.EXPIRED.value,
                reason="passed its expiry date",
                status_changed_at=models.now(),
                status_changed_by=by,
            )
            .returning(models.Certificate.id)
        )
        if won is None:
            return None
        return await self.session.get(models.Certificate, certificate_id, populate_existing=True)


class CertificateSignatures:
    """The signed certificate actions: insert-only (a trigger refuses changes)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, signature: models.CertificateSignature) -> None:
        self.session.add(signature)


class NonComplianceStatements:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, statement: models.NonComplianceStatement) -> None:
        self.session.add(statement)


class RegistryUnitOfWork(UnitOfWork):
    """One transaction over the registry's facilities, with their suites, certificates (and their
    signatures) and non-compliance statements."""

    def attach(self, session: AsyncSession) -> None:
        self.facilities = Facilities(session)
        self.suites = Suites(session)
        self.certificates = Certificates(session)
        self.signatures = CertificateSignatures(session)
        self.noncompliance = NonComplianceStatements(session)

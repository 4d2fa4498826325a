"""An in-memory unit of work with the registry's repositories, for use cases without a database.
The rows are the service's own models, kept in dicts; locking is a look-up, and the events a
use case emits are `published` once it commits."""

from datetime import date
from uuid import UUID

from services.registry import models
from services.registry.domain import EXPIRABLE, CertificateStatus
from shared.problems import NotFound
from tests.unit.fakes import InMemoryUnitOfWork


class FakeFacilities:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.Facility] = {}

    def add(self, facility: models.Facility) -> None:
        self.rows[facility.id] = facility

    async def lock(self, facility_id: UUID) -> models.Facility:
        if facility_id not in self.rows:
            raise NotFound(f"No facility {facility_id}.")
        return self.rows[facility_id]

    async def at_location(self, oms_location_id: str, *, other_than: UUID | None = None) -> UUID | None:
        return next(
            (
                f.id
                for f in self.rows.values()
                if f.oms_location_id == oms_location_id and f.active and f.id != other_than
            ),
            None,
        )


class FakeSuites:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.Suite] = {}

    def add(self, suite: models.Suite) -> None:
        self.rows[suite.id] = suite

    async def lock(self, suite_id: UUID) -> models.Suite | None:
        return self.rows.get(suite_id)

    async def name_taken(self, facility_id: UUID, name: str, *, other_than: UUID | None = None) -> bool:
        return any(
            s.facility_id == facility_id and s.name == name and not s.retired and s.id != other_than
            for s in self.rows.values()
        )


class FakeCertificates:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.Certificate] = {}

    def add(self, certificate: models.Certificate) -> None:
        self.rows[certificate.id] = certificate

    async def get(self, certificate_id: UUID) -> models.Certificate:
        if certificate_id not in self.rows:
            raise NotFound(f"No certificate {certificate_id}.")
        return self.rows[certificate_id]

    async def find(self, certificate_id: UUID) -> models.Certificate | None:
        return self.rows.get(certificate_id)

    async def lock(self, certificate_id: UUID) -> models.Certificate:
        return await self.get(certificate_id)

    async def number_taken(self, authority: str, number: str) -> bool:
        return any(c.authority == authority and c.number == number for c in self.rows.values())

    async def in_force_past(self, on: date) -> list[tuple[UUID, UUID]]:
        return [(c.id, c.facility_id) for c in self.rows.values() if self._due(c, on)]

    async def expire(self, certificate_id: UUID, on: date, *, by: str | None) -> models.Certificate | None:
        certificate = self.rows[certificate_id]
        if not self._due(certificate, on):
            return None
        certificate.status, certificate.reason = CertificateStatus.EXPIRED.value, "passed its expiry date"
        certificate.status_changed_at, certificate.status_changed_by = models.now(), by
        return certificate

    @staticmethod
    def _due(certificate: models.Certificate, on: date) -> bool:
        return certificate.status in EXPIRABLE and certificate.expires_on < on


class FakeCertificateSignatures:
    def __init__(self) -> None:
        self.rows: list[models.CertificateSignature] = []

    def add(self, signature: models.CertificateSignature) -> None:
        self.rows.append(signature)


class FakeNonComplianceStatements:
    def __init__(self) -> None:
        self.rows: list[models.NonComplianceStatement] = []

    def add(self, statement: models.NonComplianceStatement) -> None:
        self.rows.append(statement)


class FakeUnitOfWork(InMemoryUnitOfWork):
    """The registry's unit of work, in memory: what one test's use cases share."""

    def __init__(self, actor: str = "admin:hub-operator") -> None:
        super().__init__(actor)
        self.facilities = FakeFacilities()
        self.suites = FakeSuites()
        self.certificates = FakeCertificates()
        self.signatures = FakeCertificateSignatures()
        self.noncompliance = FakeNonComplianceStatements()

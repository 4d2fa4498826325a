"""Registry tables. Nothing is deleted: suites are retired, facilities deactivated, certificates
change status; who did it, when and why is kept on the row and in the facility's event history."""

import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class Table(SQLModel, registry=registry()):
    pass


metadata = Table.metadata


def now() -> datetime:
    return datetime.now(UTC)


def _terms() -> sa.Column:
    """A list of controlled-vocabulary terms; `@>` answers "can it do X" with a GIN index."""
    return sa.Column(ARRAY(sa.Text), nullable=False, server_default="{}")


def _when(nullable: bool = True) -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Facility(Table, table=True):
    __table_args__ = (
        # one active facility per OMS location: a site is one place, onboarded once
        sa.Index("uq_facility_active_oms_location", "oms_location_id", unique=True, postgresql_where=sa.text("active")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = 1  # the aggregate's version: bumped by every facility, suite or certificate change
    legal_name: str
    kind: str
    country: str = Field(max_length=2, index=True)
    city: str
    address: str
    contact_email: str
    authorisation_number: str
    authorisation_authority: str
    eudragmdp_ref: str | None = None
    oms_organisation_id: str | None = Field(default=None, index=True)  # EMA SPOR/OMS, ORG-<9 digits>
    oms_location_id: str | None = None  # EMA SPOR/OMS, LOC-<9 digits>
    active: bool = True
    created_at: datetime = Field(default_factory=now)
    created_by: str
    updated_at: datetime = Field(default_factory=now)
    updated_by: str
    deactivated_at: datetime | None = Field(default=None, sa_column=_when())
    deactivated_by: str | None = None
    deactivation_reason: str | None = None

    @property
    def facility_id(self) -> uuid.UUID:
        """The id by the name the events give it: their state is validated from the row."""
        return self.id


class Suite(Table, table=True):
    """A manufacturing room or line of a facility, with its capabilities."""

    __table_args__ = (
        # two live suites of one facility never share a name; a retired name may be reused
        sa.Index("uq_suite_live_name", "facility_id", "name", unique=True, postgresql_where=sa.text("NOT retired")),
        sa.Index("ix_suite_atmp_types", "atmp_types", postgresql_using="gin"),
        sa.Index("ix_suite_processes", "processes", postgresql_using="gin"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    facility_id: uuid.UUID = Field(foreign_key="facility.id", index=True)
    name: str
    cleanroom_grade: str
    atmp_types: list[str] = Field(sa_column=_terms())
    processes: list[str] = Field(sa_column=_terms())
    qc_tests: list[str] = Field(sa_column=_terms())
    qp_release: bool = False
    description: str | None = None
    retired: bool = False
    retired_at: datetime | None = Field(default=None, sa_column=_when())
    retired_by: str | None = None
    retirement_reason: str | None = None
    created_at: datetime = Field(default_factory=now, sa_column=_when(nullable=False))
    created_by: str
    updated_at: datetime = Field(default_factory=now, sa_column=_when(nullable=False))
    updated_by: str

    @property
    def suite_id(self) -> uuid.UUID:
        """The id by the name the events give it: their state is validated from the row."""
        return self.id


class Certificate(Table, table=True):
    """A GMP certificate issued by one authority to one facility, and where it stands."""

    __table_args__ = (
        sa.UniqueConstraint("authority", "number", name="uq_certificate_authority_number"),
        sa.CheckConstraint("expires_on > issued_on", name="ck_certificate_expiry_after_issue"),
        # the expiry job's question: which certificates in force are past their date
        sa.Index(
            "ix_certificate_in_force_expiry", "expires_on", postgresql_where=sa.text("status IN ('valid', 'suspended')")
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    facility_id: uuid.UUID = Field(foreign_key="facility.id", index=True)
    number: str
    authority: str
    issued_on: date
    expires_on: date
    atmp_types: list[str] = Field(sa_column=_terms())
    operations: list[str] = Field(sa_column=_terms())
    eudragmdp_ref: str | None = Field(default=None, index=True)  # the EudraGMDP document's reference, as issued
    status: str = "valid"
    reason: str | None = None  # why the last status change happened
    status_changed_at: datetime = Field(default_factory=now, sa_column=_when(nullable=False))
    status_changed_by: str
    created_at: datetime = Field(default_factory=now, sa_column=_when(nullable=False))
    created_by: str

    @property
    def certificate_id(self) -> uuid.UUID:
        """The id by the name the events give it: their state is validated from the row."""
        return self.id


class NonComplianceStatement(Table, table=True):
    """A regulator's GMP non-compliance statement about a facility."""

    __tablename__ = "noncompliance_statement"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    facility_id: uuid.UUID = Field(foreign_key="facility.id", index=True)
    certificate_id: uuid.UUID | None = Field(default=None, foreign_key="certificate.id")
    authority: str
    eudragmdp_ref: str | None = Field(default=None, index=True)  # the EudraGMDP document's reference, as issued
    summary: str
    recorded_at: datetime = Field(default_factory=now, sa_column=_when(nullable=False))
    recorded_by: str


class CertificateSignature(Table, table=True):
    """A regulator's electronic signature on a certificate action (issued, suspended, reinstated,
    revoked): who (the audit trail's name and the person's), when, what it means, why, and the
    SHA-256 of the certificate state it signed. Insert-only: a trigger refuses UPDATE and DELETE."""

    __tablename__ = "certificate_signature"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    certificate_id: uuid.UUID = Field(foreign_key="certificate.id", index=True)
    facility_id: uuid.UUID = Field(foreign_key="facility.id")
    facility_version: int  # the facility aggregate's version this signed change produced
    action: str  # issued | suspended | reinstated | revoked
    signer: str
    signer_name: str
    authority: str
    meaning: str
    reason: str | None = None
    signed_at: datetime = Field(default_factory=now, sa_column=_when(nullable=False))
    state_sha256: str = Field(max_length=64)

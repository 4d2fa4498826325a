"""Materials tables. Rows are never deleted: materials retire, shortages resolve, reservations
are released; who changed what and when is on the row and, in full, in the outbox history."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class Table(SQLModel, registry=registry()):
    pass


metadata = Table.metadata

QUANTITY = sa.Numeric(18, 6)
TIMESTAMP = sa.DateTime(timezone=True)


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return now().date()


class _Audited(SQLModel):
    created_at: datetime = Field(default_factory=now, sa_type=TIMESTAMP)
    created_by: str
    updated_at: datetime = Field(default_factory=now, sa_type=TIMESTAMP)
    updated_by: str


class Supplier(_Audited, Table, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = 1
    name: str = Field(sa_column_kwargs={"unique": True})
    country: str = Field(max_length=2, index=True)
    qualification_status: str = Field(index=True)
    note: str | None = None


class Material(_Audited, Table, table=True):
    __table_args__ = (
        sa.CheckConstraint("usp1043_tier BETWEEN 1 AND 4", name="ck_material_usp1043_tier"),
        sa.CheckConstraint("(origin = 'animal') = (origin_species IS NOT NULL)", name="ck_material_species"),
        sa.Index("ix_material_search_trgm", "search_text", postgresql_using="gin",
                 postgresql_ops={"search_text": "gin_trgm_ops"}),
        sa.Index("ix_material_search_vector", "search_vector", postgresql_using="gin"),
        sa.Index("uq_material_supplier_catalogue_number", "supplier_id", "catalogue_number", unique=True),
    )  # fmt: skip

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = 1
    name: str
    synonyms: list[str] = Field(default_factory=list, sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False))
    category: str = Field(index=True)
    supplier_id: uuid.UUID | None = Field(default=None, foreign_key="supplier.id", index=True)
    catalogue_number: str | None = None
    grade: str = Field(index=True)
    usp1043_tier: int | None = None
    origin: str
    origin_species: str | None = None
    tse_bse_statement: str | None = None
    ph_eur_5_2_12: bool = False
    coa_reference: str | None = None
    dmf_cep_reference: str | None = None
    regulatory_support_file: str | None = None
    sms_substance_id: str | None = Field(default=None, index=True)  # EMA SPOR SMS substance id, opaque
    unii: str | None = Field(default=None, index=True)  # FDA Unique Ingredient Identifier, opaque
    retired: bool = False
    # Lower-cased name, synonyms and catalogue number: trigram similarity tolerates typos in it,
    # and the generated tsvector serves whole-word full-text search.
    search_text: str
    search_vector: str | None = Field(
        default=None,
        sa_column=sa.Column(postgresql.TSVECTOR, sa.Computed("to_tsvector('simple', search_text)", persisted=True)),
    )


class MaterialWord(Table, table=True):
    """A word of the catalogue (of some material's search vector) that has a letter: what a
    misspelt word of a search is matched against. A trigger on material adds the words each
    insert or update brings (migration 690d2fd03982); words are never removed."""

    __tablename__ = "material_word"
    __table_args__ = (
        sa.Index("ix_material_word_trgm", "word", postgresql_using="gin", postgresql_ops={"word": "gin_trgm_ops"}),
    )
    word: str = Field(primary_key=True)


class MaterialAlternative(Table, table=True):
    """A qualified equivalent of a material, and what differs."""

    __tablename__ = "material_alternative"
    __table_args__ = (sa.CheckConstraint("material_id <> alternative_id", name="ck_alternative_not_itself"),)
    material_id: uuid.UUID = Field(foreign_key="material.id", primary_key=True)
    alternative_id: uuid.UUID = Field(foreign_key="material.id", primary_key=True)
    note: str
    withdrawn: bool = False
    created_at: datetime = Field(default_factory=now, sa_type=TIMESTAMP)
    created_by: str
    updated_at: datetime = Field(default_factory=now, sa_type=TIMESTAMP)
    updated_by: str


class Lot(_Audited, Table, table=True):
    """A lot a facility holds. `reserved` is what confirmed reservations hold of `quantity`;
    `expired_at` is when the expiry job recorded that the lot passed its expiry date."""

    __table_args__ = (
        sa.CheckConstraint("quantity >= 0", name="ck_lot_quantity_not_negative"),
        sa.CheckConstraint("reserved >= 0 AND reserved <= quantity", name="ck_lot_reserved_within_quantity"),
        sa.UniqueConstraint("facility_id", "material_id", "lot_number", name="uq_lot_facility_material_number"),
        sa.Index("ix_lot_facility_material", "facility_id", "material_id"),
        # the expiry job's question, "which unmarked lots are past their date", without a scan
        sa.Index("ix_lot_due_for_expiry", "expires_on", postgresql_where=sa.text("expired_at IS NULL")),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = 1
    facility_id: uuid.UUID
    material_id: uuid.UUID = Field(foreign_key="material.id", index=True)
    lot_number: str
    expires_on: date
    quantity: Decimal = Field(sa_type=QUANTITY)
    reserved: Decimal = Field(default=Decimal(0), sa_type=QUANTITY)
    unit: str
    expired_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)
    # Quarantined in answer to a supplier change: never reserved again (what is reserved stays).
    quarantined_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)
    quarantined_by_change_id: uuid.UUID | None = None


class Reservation(Table, table=True):
    """The materials side of one booking's saga: at most one per booking."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    booking_id: uuid.UUID = Field(sa_column_kwargs={"unique": True})
    booking_version: int
    facility_id: uuid.UUID = Field(index=True)
    status: str
    shortfalls: list[dict] = Field(default_factory=list, sa_column=sa.Column(postgresql.JSONB, nullable=False))
    created_at: datetime = Field(default_factory=now, sa_type=TIMESTAMP)
    updated_at: datetime = Field(default_factory=now, sa_type=TIMESTAMP)
    updated_by: str


class ReservationLine(Table, table=True):
    __tablename__ = "reservation_line"
    __table_args__ = (sa.CheckConstraint("quantity > 0", name="ck_reservation_line_positive"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    reservation_id: uuid.UUID = Field(foreign_key="reservation.id", index=True)
    lot_id: uuid.UUID = Field(foreign_key="lot.id", index=True)
    material_id: uuid.UUID
    quantity: Decimal = Field(sa_type=QUANTITY)
    unit: str


class Shortage(_Audited, Table, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = 1
    material_id: uuid.UUID = Field(foreign_key="material.id", index=True)
    severity: str
    status: str = Field(index=True)
    expected_end: date | None = None
    regions: list[str] = Field(default_factory=list, sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False))
    reason: str | None = None
    reported_by_facility_id: uuid.UUID | None = None  # set when a facility user declared it
    resolved_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)
    resolution_note: str | None = None


class SupplierChange(_Audited, Table, table=True):
    """A supplier's change notification: what changed, which of its materials, from when, how risky.
    The facilities holding lots of those materials when it was recorded each answer it."""

    __tablename__ = "supplier_change"
    __table_args__ = (
        sa.CheckConstraint(
            "change_type IN ('process','site','formulation','raw_material','specification','packaging','other')",
            name="ck_supplier_change_type",
        ),
        sa.CheckConstraint("risk_class IN ('minor','major','critical')", name="ck_supplier_change_risk_class"),
        sa.Index("ix_supplier_change_material_ids", "material_ids", postgresql_using="gin"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    supplier_id: uuid.UUID = Field(foreign_key="supplier.id", index=True)
    change_type: str
    description: str
    material_ids: list[uuid.UUID] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.Uuid), nullable=False))
    effective_on: date
    risk_class: str


class SupplierChangeLot(Table, table=True):
    """A lot a supplier change touched: of a named material, held when the change was recorded."""

    __tablename__ = "supplier_change_lot"
    supplier_change_id: uuid.UUID = Field(foreign_key="supplier_change.id", primary_key=True)
    lot_id: uuid.UUID = Field(foreign_key="lot.id", primary_key=True, index=True)
    facility_id: uuid.UUID


class SupplierChangeFacility(Table, table=True):
    """One facility's answer to a supplier change (outstanding while `outcome` is empty)."""

    __tablename__ = "supplier_change_facility"
    __table_args__ = (
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('accepted','quarantine_lots')", name="ck_supplier_change_facility_outcome"
        ),
        sa.CheckConstraint("(outcome IS NULL) = (answered_at IS NULL)", name="ck_supplier_change_facility_answered"),
    )
    supplier_change_id: uuid.UUID = Field(foreign_key="supplier_change.id", primary_key=True)
    facility_id: uuid.UUID = Field(primary_key=True, index=True)
    outcome: str | None = None
    assessment: str | None = None
    answered_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)
    answered_by: str | None = None

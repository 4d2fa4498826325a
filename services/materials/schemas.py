"""Request and response bodies of the materials API."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StrictBool

from services.materials.domain import (
    QUANTITY_PLACES,
    Category,
    ChangeOutcome,
    Grade,
    MaterialEntry,
    Origin,
    QualificationStatus,
    QualityAttributes,
    RiskClass,
    Severity,
    SupplierChangeType,
    clean_synonyms,
    plain,
)
from services.materials.events import SupplierChangeBooking, SupplierChangeState
from shared.fields import IsoDate

Text = Annotated[str, Field(min_length=1, max_length=500)]
Quantity = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=QUANTITY_PLACES, examples=["250.5"])]
Amount = Annotated[Decimal, PlainSerializer(lambda d: str(plain(d)), return_type=str)]  # "4.5", not "4.500000"
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["DE"])]


class SupplierIn(BaseModel):
    name: str = Field(min_length=2, max_length=200, examples=["Miltenyi Biotec"])
    country: Country
    qualification_status: QualificationStatus = QualificationStatus.UNDER_EVALUATION
    note: str | None = Field(default=None, max_length=2000)


class SupplierPatch(BaseModel):
    name: str | None = Field(default=None, min_length=2, max_length=200)
    country: Country | None = None
    qualification_status: QualificationStatus | None = None
    note: str | None = Field(default=None, max_length=2000)


class SupplierOut(BaseModel):
    supplier_id: UUID = Field(validation_alias="id")
    version: int
    name: str
    country: str
    qualification_status: str
    note: str | None
    updated_at: datetime
    updated_by: str


class MaterialIn(BaseModel):
    name: str = Field(min_length=1, max_length=300, examples=["CliniMACS CD34 Reagent"])
    synonyms: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=50)
    category: Category
    supplier_id: UUID | None = None
    catalogue_number: str | None = Field(default=None, max_length=100, examples=["200-070-100"])
    grade: Grade
    usp1043_tier: int | None = Field(default=None, ge=1, le=4)
    origin: Origin
    origin_species: str | None = Field(default=None, max_length=100, examples=["bovine"])
    tse_bse_statement: str | None = Field(default=None, max_length=2000)
    ph_eur_5_2_12: StrictBool = False
    coa_reference: str | None = Field(default=None, max_length=500)
    dmf_cep_reference: str | None = Field(default=None, max_length=200, examples=["US DMF 12345"])
    regulatory_support_file: str | None = Field(default=None, max_length=500)
    sms_substance_id: str | None = Field(
        default=None, max_length=40, description="EMA SPOR Substance Management Service id (opaque)",
        examples=["100000090185"],
    )  # fmt: skip
    unii: str | None = Field(default=None, max_length=20, description="FDA UNII (opaque)", examples=["M7FS82U2KF"])

    def entry(self) -> MaterialEntry:
        quality = QualityAttributes(
            grade=self.grade, origin=self.origin, usp1043_tier=self.usp1043_tier, origin_species=self.origin_species,
            tse_bse_statement=self.tse_bse_statement, ph_eur_5_2_12=self.ph_eur_5_2_12,
            coa_reference=self.coa_reference, dmf_cep_reference=self.dmf_cep_reference,
            regulatory_support_file=self.regulatory_support_file, sms_substance_id=self.sms_substance_id,
            unii=self.unii,
        )  # fmt: skip
        return MaterialEntry(
            name=self.name, category=self.category, quality=quality, synonyms=clean_synonyms(self.synonyms),
            supplier_id=self.supplier_id, catalogue_number=self.catalogue_number,
        )  # fmt: skip


class MaterialPatch(BaseModel):
    """Only the fields given change; `retired: true` takes the material out of use (kept for history)."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    synonyms: list[Annotated[str, Field(max_length=200)]] | None = Field(default=None, max_length=50)
    category: Category | None = None
    supplier_id: UUID | None = None
    catalogue_number: str | None = Field(default=None, max_length=100)
    grade: Grade | None = None
    usp1043_tier: int | None = Field(default=None, ge=1, le=4)
    origin: Origin | None = None
    origin_species: str | None = Field(default=None, max_length=100)
    tse_bse_statement: str | None = Field(default=None, max_length=2000)
    ph_eur_5_2_12: StrictBool | None = None
    coa_reference: str | None = Field(default=None, max_length=500)
    dmf_cep_reference: str | None = Field(default=None, max_length=200)
    regulatory_support_file: str | None = Field(default=None, max_length=500)
    sms_substance_id: str | None = Field(default=None, max_length=40)
    unii: str | None = Field(default=None, max_length=20)
    retired: StrictBool | None = None

    def revise(self, current: BaseModel) -> MaterialEntry:
        """The whole entry of the `current` material once this patch applies: valid as a whole, or a
        ValidationError saying what the patch would break."""
        changes = self.model_dump(exclude_unset=True, exclude={"retired"})
        return MaterialIn.model_validate(current.model_dump(include=set(MaterialIn.model_fields)) | changes).entry()


class SupplierBrief(BaseModel):
    supplier_id: UUID
    name: str
    country: str
    qualification_status: str


class MaterialOut(BaseModel):
    material_id: UUID
    version: int
    name: str
    synonyms: list[str]
    category: str
    supplier: SupplierBrief | None
    catalogue_number: str | None
    grade: str
    usp1043_tier: int | None
    origin: str
    origin_species: str | None
    tse_bse_statement: str | None
    ph_eur_5_2_12: bool
    coa_reference: str | None
    dmf_cep_reference: str | None
    regulatory_support_file: str | None
    sms_substance_id: str | None = None
    unii: str | None = None
    retired: bool
    updated_at: datetime
    updated_by: str
    score: float | None = Field(default=None, description="Search relevance, when searched by text.")


class AlternativeIn(BaseModel):
    alternative_id: UUID
    note: str = Field(min_length=1, max_length=2000, examples=["Same clone, different fill volume; AOF formulation"])


class AlternativeOut(BaseModel):
    material: MaterialOut
    note: str
    qualified: bool = Field(description="GMP or ancillary grade, from a qualified supplier")


class SupplierChangeBrief(BaseModel):
    """A supplier change notification touching a material (or a reservation's lots)."""

    supplier_change_id: UUID
    change_type: str
    description: str
    effective_on: date
    risk_class: str
    outstanding_facilities: int = Field(description="Facilities holding affected lots that have not answered yet.")


class MaterialDetail(MaterialOut):
    alternatives: list[AlternativeOut]
    supplier_changes: list[SupplierChangeBrief] = Field(
        default=[], description="Supplier change notifications naming this material, newest first."
    )


class MaterialPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[MaterialOut]


class Reason(BaseModel):
    reason: str = Field(min_length=3, max_length=2000)


class LotIn(BaseModel):
    material_id: UUID
    lot_number: str = Field(min_length=1, max_length=100, examples=["L2026-0413"])
    expires_on: IsoDate
    quantity: Quantity
    unit: str = Field(min_length=1, max_length=10, examples=["mL"])


class LotCount(BaseModel):
    quantity: Quantity
    reason: str = Field(min_length=3, max_length=2000, examples=["stock-take 2026-11-25"])


class LotOut(BaseModel):
    lot_id: UUID = Field(validation_alias="id")
    version: int
    facility_id: UUID
    material_id: UUID
    lot_number: str
    expires_on: date
    quantity: Amount
    reserved: Amount
    available: Amount = Field(description="What new bookings may still reserve: nothing once expired.")
    unit: str
    expired: bool = Field(description="Past its expiry date (a lot is usable through `expires_on`).")
    expired_at: datetime | None = Field(description="When the expiry job marked the lot expired, with its event.")
    quarantined_at: datetime | None = Field(
        default=None, description="Quarantined in answer to a supplier change: never reserved again."
    )
    quarantined_by_change_id: UUID | None = None
    updated_at: datetime
    updated_by: str


class ReservationLineOut(BaseModel):
    lot_id: UUID
    material_id: UUID
    quantity: Amount
    unit: str


class ReservationOut(BaseModel):
    reservation_id: UUID
    booking_id: UUID
    booking_version: int
    facility_id: UUID
    status: str
    lines: list[ReservationLineOut]
    shortfalls: list[dict]
    updated_at: datetime
    supplier_changes: list["ReservationSupplierChange"] = Field(
        default=[], description="Supplier change notifications touching the lots it reserved."
    )


class ReservationSupplierChange(SupplierChangeBrief):
    lot_ids: list[UUID] = Field(description="Of the reservation's lots, those the change touches.")
    outcome: str | None = Field(description="The facility's answer: accepted | quarantine_lots; none yet.")


class ShortageIn(BaseModel):
    material_id: UUID
    severity: Severity
    expected_end: IsoDate | None = None
    regions: list[Annotated[str, Field(max_length=3)]] = Field(min_length=1, max_length=60, examples=[["DE", "AT"]])
    reason: str | None = Field(default=None, max_length=2000)
    facility_id: UUID | None = Field(default=None, description="The reporting facility (required for facility users).")


class ShortagePatch(BaseModel):
    severity: Severity | None = None
    expected_end: IsoDate | None = None
    regions: list[Annotated[str, Field(max_length=3)]] | None = Field(default=None, min_length=1, max_length=60)
    reason: str | None = Field(default=None, max_length=2000)


class ShortageResolve(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class ShortageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    shortage_id: UUID = Field(validation_alias="id")
    version: int
    material_id: UUID
    severity: str
    status: str
    expected_end: date | None
    regions: list[str]
    reason: str | None
    reported_by_facility_id: UUID | None
    resolved_at: datetime | None
    resolution_note: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class StockOut(BaseModel):
    facility_id: UUID
    available: Amount
    unit: str
    lots: int
    earliest_expiry: date


class AlternativeWithStock(AlternativeOut):
    stock: list[StockOut]


class ShortageDetail(ShortageOut):
    material: MaterialOut
    alternatives: list[AlternativeWithStock]


class ImportRejected(BaseModel):
    line: int
    reason: str


class ImportOut(BaseModel):
    rows: int
    imported: int
    dry_run: bool
    rejected: list[ImportRejected]
    seconds: float


class SupplierChangeIn(BaseModel):
    supplier_id: UUID
    change_type: SupplierChangeType
    description: str = Field(
        min_length=3, max_length=4000, examples=["Manufacture of the basal medium moves from Freiburg to Porto"]
    )
    material_ids: list[UUID] = Field(min_length=1, max_length=500, description="The supplier's materials it touches.")
    effective_on: IsoDate
    risk_class: RiskClass


class SupplierChangeAnswerIn(BaseModel):
    outcome: ChangeOutcome = Field(description="accepted, or quarantine_lots: the facility's affected lots")
    assessment: str = Field(min_length=3, max_length=4000, examples=["Comparability data reviewed; no impact"])


class SupplierChangeOut(SupplierChangeState):
    created_at: datetime
    created_by: str
    outstanding_facilities: int
    bookings: list[SupplierChangeBooking] = Field(
        description="Bookings whose confirmed reservations hold affected lots (those the caller may see)."
    )

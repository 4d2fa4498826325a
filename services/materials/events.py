"""Events the materials service publishes on `gmphub.materials.v1`.

Reservation events are keyed by booking id (the saga's aggregate), so scheduling sees a booking's
reservation outcomes in order; catalogue, lot and shortage events by their own ids."""

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, Field

from shared.events import ChainAnchored, Event


class MaterialState(BaseModel):
    material_id: UUID
    version: int
    name: str
    category: str
    supplier_id: UUID | None = None
    catalogue_number: str | None = None
    grade: str  # gmp | ancillary | research_use_only
    usp1043_tier: int | None = None
    origin: str
    retired: bool = False
    # Added after v1 was first published; optional so older readers and payloads still agree.
    synonyms: list[str] = []
    origin_species: str | None = None
    tse_bse_statement: str | None = None
    ph_eur_5_2_12: bool | None = None
    coa_reference: str | None = None
    dmf_cep_reference: str | None = None
    regulatory_support_file: str | None = None
    sms_substance_id: str | None = None  # EMA SPOR Substance Management Service id
    unii: str | None = None  # FDA Unique Ingredient Identifier


class MaterialRegistered(Event):
    """A material joined the catalogue."""

    type = "gmphub.materials.material.registered.v1"
    aggregate_field = "material_id"
    material_id: UUID
    material: MaterialState


class MaterialUpdated(Event):
    """A material's catalogue entry or quality attributes changed."""

    type = "gmphub.materials.material.updated.v1"
    aggregate_field = "material_id"
    material_id: UUID
    material: MaterialState


class SupplierRegistered(Event):
    """A supplier joined the catalogue."""

    type = "gmphub.materials.supplier.registered.v1"
    aggregate_field = "supplier_id"
    supplier_id: UUID
    name: str
    country: str
    qualification_status: str
    version: int | None = None


class SupplierUpdated(Event):
    """A supplier's details or qualification status changed (curated by the hub operator)."""

    type = "gmphub.materials.supplier.updated.v1"
    aggregate_field = "supplier_id"
    supplier_id: UUID
    version: int
    name: str
    country: str
    qualification_status: str
    note: str | None = None


class AlternativeNamed(Event):
    """A material names a qualified equivalent (or changes the note on what differs)."""

    type = "gmphub.materials.alternative.named.v1"
    aggregate_field = "material_id"
    material_id: UUID
    alternative_id: UUID
    note: str


class AlternativeWithdrawn(Event):
    """A material no longer names this equivalent."""

    type = "gmphub.materials.alternative.withdrawn.v1"
    aggregate_field = "material_id"
    material_id: UUID
    alternative_id: UUID
    reason: str


class LotRecorded(Event):
    """A facility recorded a lot it holds, or its quantity changed."""

    type = "gmphub.materials.lot.recorded.v1"
    aggregate_field = "lot_id"
    lot_id: UUID
    facility_id: UUID
    material_id: UUID
    lot_number: str
    expires_on: date
    quantity: Decimal
    unit: str
    version: int | None = None
    reserved: Decimal | None = None  # of `quantity`, held by confirmed reservations
    reason: str | None = None  # why the quantity changed, for a correction
    # Added after v1 was first published: when the lot was marked expired (a count after expiry).
    expired_at: datetime | None = None


class ExpiredLotHold(BaseModel):
    """What one booking's confirmed reservation still holds of a lot that expired."""

    booking_id: UUID
    reservation_id: UUID
    quantity: Decimal
    unit: str


class LotExpired(Event):
    """The lot passed its expiry date (it was usable through `expires_on`); emitted once per lot.
    `reserved` is what confirmed reservations still hold of it, by booking in `holds`: runs that
    started by the expiry day reserved it legitimately, but the facility should check them."""

    type = "gmphub.materials.lot.expired.v1"
    aggregate_field = "lot_id"
    lot_id: UUID
    facility_id: UUID
    material_id: UUID
    lot_number: str
    expires_on: date
    expired_at: datetime
    quantity: Decimal
    unit: str
    version: int
    reserved: Decimal
    holds: list[ExpiredLotHold]


class ReservedLine(BaseModel):
    material_id: UUID
    lot_id: UUID
    lot_number: str
    quantity: Decimal
    unit: str


class Shortfall(BaseModel):
    material_id: UUID
    requested: Decimal
    available: Decimal
    unit: str


class ReservationConfirmed(Event):
    """Every material need of the booking is reserved from the facility's lots."""

    type = "gmphub.materials.reservation.confirmed.v1"
    aggregate_field = "booking_id"
    booking_id: UUID
    reservation_id: UUID
    facility_id: UUID
    lines: list[ReservedLine]


class ReservationFailed(Event):
    """Some need could not be met; nothing was reserved (all-or-nothing)."""

    type = "gmphub.materials.reservation.failed.v1"
    aggregate_field = "booking_id"
    booking_id: UUID
    facility_id: UUID
    shortfalls: list[Shortfall]


class ReservationReleased(Event):
    """The booking was cancelled; its reserved quantities are back in their lots."""

    type = "gmphub.materials.reservation.released.v1"
    aggregate_field = "booking_id"
    booking_id: UUID
    reservation_id: UUID
    facility_id: UUID


class ReservationConsumed(Event):
    """The booking's run took place; its reserved quantities left the lots."""

    type = "gmphub.materials.reservation.consumed.v1"
    aggregate_field = "booking_id"
    booking_id: UUID
    reservation_id: UUID
    facility_id: UUID
    lines: list[ReservedLine]


class BatchReservation(BaseModel):
    booking_id: UUID
    reservation_id: UUID
    lines: list[ReservedLine]


class BatchShortfalls(BaseModel):
    booking_id: UUID
    shortfalls: list[Shortfall] = Field(description="Empty for a batch whose needs alone would have been met")


class CampaignReservationConfirmed(Event):
    """Every batch of a campaign is reserved from the facility's lots, in one transaction (each
    batch's reservation is its booking's: cancelling or completing a batch releases or uses it)."""

    type = "gmphub.materials.campaign_reservation.confirmed.v1"
    aggregate_field = "campaign_id"
    campaign_id: UUID
    facility_id: UUID
    batches: list[BatchReservation]


class CampaignReservationFailed(Event):
    """Some batch's needs could not be met: nothing was reserved for any batch (all or nothing)."""

    type = "gmphub.materials.campaign_reservation.failed.v1"
    aggregate_field = "campaign_id"
    campaign_id: UUID
    facility_id: UUID
    batches: list[BatchShortfalls]


class ShortageState(BaseModel):
    shortage_id: UUID
    material_id: UUID
    material_name: str | None = None  # so consumers can name the material without calling back
    version: int
    severity: str  # low | medium | high | critical
    status: str  # active | resolved
    expected_end: date | None = None
    regions: list[str]
    reason: str | None = None


class ShortageDeclared(Event):
    """A shortage of a material was declared."""

    type = "gmphub.materials.shortage.declared.v1"
    aggregate_field = "shortage_id"
    shortage_id: UUID
    shortage: ShortageState


class ShortageUpdated(Event):
    """A shortage's severity, expected end or regions changed."""

    type = "gmphub.materials.shortage.updated.v1"
    aggregate_field = "shortage_id"
    shortage_id: UUID
    shortage: ShortageState


class ShortageResolved(Event):
    """The shortage is over."""

    type = "gmphub.materials.shortage.resolved.v1"
    aggregate_field = "shortage_id"
    shortage_id: UUID
    shortage: ShortageState


class SupplierChangeFacility(BaseModel):
    """A facility holding lots a supplier change touches, and its answer once given."""

    facility_id: UUID
    lot_ids: list[UUID]
    outcome: str | None = None  # accepted | quarantine_lots
    assessment: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None


class SupplierChangeBooking(BaseModel):
    """A booking whose confirmed reservation holds lots a supplier change touches."""

    booking_id: UUID
    reservation_id: UUID
    facility_id: UUID
    lot_ids: list[UUID]


class SupplierChangeState(BaseModel):
    supplier_change_id: UUID
    supplier_id: UUID
    change_type: str  # process | site | formulation | raw_material | specification | packaging | other
    description: str
    material_ids: list[UUID]
    effective_on: date
    risk_class: str  # minor | major | critical
    facilities: list[SupplierChangeFacility]


class SupplierChangeRecorded(Event):
    """A supplier's change notification was recorded: every facility holding lots of the named
    materials must answer it; `bookings` are those whose confirmed reservations hold such lots."""

    type = "gmphub.materials.supplier_change.recorded.v1"
    aggregate_field = "supplier_change_id"
    supplier_change_id: UUID
    supplier_change: SupplierChangeState
    bookings: list[SupplierChangeBooking]


class SupplierChangeAnswered(Event):
    """A facility assessed a supplier change: `accepted`, or `quarantine_lots` (its affected lots,
    each with its own `lot.quarantined` event)."""

    type = "gmphub.materials.supplier_change.answered.v1"
    aggregate_field = "supplier_change_id"
    supplier_change_id: UUID
    facility_id: UUID
    outcome: str
    assessment: str
    quarantined_lot_ids: list[UUID]
    supplier_change: SupplierChangeState


class LotHold(ExpiredLotHold):
    """What one booking's confirmed reservation holds of a lot."""


class LotQuarantined(Event):
    """The facility quarantined the lot in answer to a supplier change: no booking reserves it from
    now on. What confirmed reservations hold of it stays held, by booking in `holds`, for the
    facility to check."""

    type = "gmphub.materials.lot.quarantined.v1"
    aggregate_field = "lot_id"
    lot_id: UUID
    facility_id: UUID
    material_id: UUID
    lot_number: str
    version: int
    quarantined_at: datetime
    supplier_change_id: UUID
    reserved: Decimal
    unit: str
    holds: list[LotHold]


class AuditAnchored(ChainAnchored):
    """The head of the materials service's event-history hash chain, hourly and on demand (`gmp-hub audit anchor`)."""

    type = "gmphub.materials.audit.anchored.v1"

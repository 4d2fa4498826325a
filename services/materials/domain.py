"""Materials rules, free of frameworks and I/O: the controlled vocabularies, what a valid catalogue
entry is, exact unit conversion, how a booking's needs are allocated from lots, and shortages."""

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from uuid import UUID

from shared.problems import Conflict, Unprocessable

QUANTITY_PLACES = 6  # NUMERIC(18, 6): enough for µg of a cytokine and litres of medium alike


class Category(StrEnum):
    CELL_CULTURE_MEDIUM = "cell_culture_medium"
    CYTOKINE_GROWTH_FACTOR = "cytokine_growth_factor"
    SERUM_OR_REPLACEMENT = "serum_or_serum_replacement"
    ENZYME = "enzyme"
    SELECTION_ANTIBODY_REAGENT = "selection_antibody_reagent"
    MAGNETIC_BEADS = "magnetic_beads"
    VIRAL_VECTOR_OR_PLASMID = "viral_vector_or_plasmid"
    TRANSFECTION_REAGENT = "transfection_reagent"
    CRYOPRESERVATION_MEDIUM = "cryopreservation_medium"
    SINGLE_USE_CONSUMABLE = "single_use_consumable"
    BUFFER_OR_SOLUTION = "buffer_or_solution"
    SMALL_MOLECULE = "small_molecule"
    ACTIVATION_REAGENT = "activation_reagent"
    OTHER = "other"


class Grade(StrEnum):
    GMP = "gmp"
    ANCILLARY = "ancillary"  # ancillary-material grade (USP <1043>, Ph. Eur. 5.2.12)
    RESEARCH_USE_ONLY = "research_use_only"


class Origin(StrEnum):
    ANIMAL_ORIGIN_FREE = "animal_origin_free"
    HUMAN = "human"
    ANIMAL = "animal"


class QualificationStatus(StrEnum):
    QUALIFIED = "qualified"
    UNDER_EVALUATION = "under_evaluation"
    NOT_QUALIFIED = "not_qualified"
    DISQUALIFIED = "disqualified"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ShortageStatus(StrEnum):
    ACTIVE = "active"
    RESOLVED = "resolved"


class ReservationStatus(StrEnum):
    CONFIRMED = "confirmed"
    FAILED = "failed"
    RELEASED = "released"
    CONSUMED = "consumed"


USP1043_TIERS = (1, 2, 3, 4)

# Units by dimension, as exact factors of the dimension's base unit; a need and a lot are
# comparable only within one dimension (no density guesses between mL and g).
UNITS: dict[str, tuple[str, Decimal]] = {
    "L": ("volume", Decimal(1000)),
    "mL": ("volume", Decimal(1)),
    "µL": ("volume", Decimal("0.001")),
    "kg": ("mass", Decimal(1_000_000)),
    "g": ("mass", Decimal(1000)),
    "mg": ("mass", Decimal(1)),
    "µg": ("mass", Decimal("0.001")),
    "ng": ("mass", Decimal("0.000001")),
    "MU": ("activity", Decimal(1_000_000)),  # enzyme or cytokine activity units
    "kU": ("activity", Decimal(1000)),
    "U": ("activity", Decimal(1)),
    "each": ("count", Decimal(1)),  # vials, bags, kits, bottles: counted items
}
_UNIT_ALIASES = {
    "ul": "µL", "μL": "µL", "ug": "µg", "μg": "µg", "ml": "mL", "l": "L", "units": "U", "pcs": "each",
}  # fmt: skip

REGION = re.compile(r"^(?:[A-Z]{2}|EU|EEA)$")


def normalise_unit(unit: str) -> str:
    """The canonical spelling of a unit, or Unprocessable naming the accepted ones."""
    unit = unit.strip()
    canonical = _UNIT_ALIASES.get(unit, unit)
    if canonical not in UNITS:
        raise Unprocessable(f"Unknown unit {unit!r}; use one of {', '.join(UNITS)}.")
    return canonical


def convert(quantity: Decimal, from_unit: str, to_unit: str) -> Decimal | None:
    """`quantity` in `from_unit` expressed exactly in `to_unit`; None across dimensions."""
    (dim_from, f_from), (dim_to, f_to) = UNITS[from_unit], UNITS[to_unit]
    if dim_from != dim_to:
        return None
    return quantity * f_from / f_to if f_from != f_to else quantity


def at_least(quantity: Decimal) -> Decimal:
    """Rounded up to the six places a lot is counted in: reserve never less than is needed."""
    return quantity.quantize(Decimal(1).scaleb(-QUANTITY_PLACES), rounding=ROUND_CEILING)


def plain(quantity: Decimal) -> Decimal:
    """The same amount without trailing zeros or exponent: 4.500000 -> 4.5, 100.000000 -> 100."""
    return quantity.quantize(Decimal(1)) if quantity == quantity.to_integral_value() else quantity.normalize()


def check_quantity(quantity: Decimal, what: str = "quantity") -> Decimal:
    """Quantities are exact, never negative, with at most six decimal places."""
    if not quantity.is_finite() or quantity < 0:
        raise Unprocessable(f"The {what} must be a finite number of zero or more; got {quantity}.")
    if quantity != quantity.quantize(Decimal(1).scaleb(-QUANTITY_PLACES)):
        raise Unprocessable(f"The {what} has more than {QUANTITY_PLACES} decimal places: {quantity}.")
    return quantity


# --- the catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityAttributes:
    """What decides whether a material may be used in GMP manufacture of an ATMP."""

    grade: Grade
    origin: Origin
    usp1043_tier: int | None = None
    origin_species: str | None = None
    tse_bse_statement: str | None = None
    ph_eur_5_2_12: bool = False
    coa_reference: str | None = None
    dmf_cep_reference: str | None = None
    regulatory_support_file: str | None = None
    # The substance it is, as the regulators' registries name it: EMA's SPOR Substance Management
    # Service id and the FDA's UNII. Opaque text, optional; blank means none.
    sms_substance_id: str | None = None
    unii: str | None = None

    def __post_init__(self) -> None:
        for name in ("sms_substance_id", "unii"):
            object.__setattr__(self, name, (getattr(self, name) or "").strip() or None)
        if self.usp1043_tier is not None and self.usp1043_tier not in USP1043_TIERS:
            raise Unprocessable(f"USP <1043> tier must be 1 to 4; got {self.usp1043_tier}.")
        if self.origin is Origin.ANIMAL and not self.origin_species:
            raise Unprocessable("A material of animal origin must name the species (origin_species).")
        if self.origin is not Origin.ANIMAL and self.origin_species:
            raise Unprocessable(f"origin_species applies to animal origin only; this material is {self.origin}.")
        if self.origin is Origin.ANIMAL and not self.tse_bse_statement:
            # Ph. Eur. 5.2.8: ruminant or other animal material needs a TSE/BSE risk statement.
            raise Unprocessable("A material of animal origin needs a TSE/BSE statement (tse_bse_statement).")


@dataclass(frozen=True)
class MaterialEntry:
    name: str
    category: Category
    quality: QualityAttributes
    synonyms: tuple[str, ...] = ()
    supplier_id: UUID | None = None
    catalogue_number: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise Unprocessable("A material needs a name.")
        if self.catalogue_number is not None and not self.catalogue_number.strip():
            raise Unprocessable("The catalogue number, when given, may not be blank.")
        if self.catalogue_number and self.supplier_id is None:
            raise Unprocessable("A catalogue number belongs to a supplier: give supplier_id too.")

    def search_text(self) -> str:
        """What free-text search looks in: name, synonyms and catalogue number."""
        return " ".join([self.name, *self.synonyms, self.catalogue_number or ""]).strip().lower()


def clean_synonyms(synonyms: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for s in synonyms:
        if s.strip():
            seen.setdefault(s.strip().lower(), s.strip())
    return tuple(seen.values())


# --- allocation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    material_id: UUID
    quantity: Decimal
    unit: str


@dataclass(frozen=True)
class LotStock:
    lot_id: UUID
    material_id: UUID
    lot_number: str
    expires_on: date
    available: Decimal  # on hand minus reserved, in the lot's unit
    unit: str


@dataclass(frozen=True)
class Take:
    lot: LotStock
    quantity: Decimal  # in the lot's unit


@dataclass(frozen=True)
class Short:
    material_id: UUID
    requested: Decimal
    available: Decimal
    unit: str


@dataclass
class Allocation:
    takes: list[Take] = field(default_factory=list)
    shortfalls: list[Short] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.shortfalls


def past_expiry(expires_on: date, on: date) -> bool:
    """A lot is usable through its expiry day and expired from the day after."""
    return expires_on < on


def reservable(lot: LotStock, use_on: date) -> bool:
    """A lot may be reserved if it has stock and does not expire before the material is used."""
    return lot.available > 0 and not past_expiry(lot.expires_on, use_on)


def allocate(needs: list[Need], lots: list[LotStock], use_on: date) -> Allocation:
    """Take every need from the lots, earliest expiry first, all or nothing: if any need falls
    short, the allocation holds only the shortfalls and takes nothing."""
    wanted: dict[UUID, Need] = {}
    for need in needs:  # one booking may list a material twice: add them up in the first unit
        if need.quantity <= 0:
            continue
        if need.material_id in wanted:
            first = wanted[need.material_id]
            extra = convert(need.quantity, need.unit, first.unit) if need.unit in UNITS else None
            if extra is None:
                raise Unprocessable(f"Material {need.material_id} is needed in units {first.unit} and {need.unit}.")
            wanted[need.material_id] = Need(first.material_id, first.quantity + extra, first.unit)
        else:
            wanted[need.material_id] = need
    by_material: dict[UUID, list[LotStock]] = defaultdict(list)
    for lot in lots:
        if reservable(lot, use_on):
            by_material[lot.material_id].append(lot)
    result = Allocation()
    for need in wanted.values():
        remaining = need.quantity
        available = Decimal(0)
        takes: list[Take] = []
        for lot in sorted(by_material[need.material_id], key=lambda lot: (lot.expires_on, lot.lot_number)):
            if need.unit not in UNITS:
                break
            in_need_unit = convert(lot.available, lot.unit, need.unit)
            if in_need_unit is None:
                continue  # a lot counted in another dimension cannot serve this need
            available += in_need_unit
            if remaining <= 0:
                continue
            take = min(remaining, in_need_unit)
            takes.append(Take(lot, at_least(convert(take, need.unit, lot.unit))))  # type: ignore[arg-type]
            remaining -= take
        if remaining > 0:
            result.shortfalls.append(Short(need.material_id, need.quantity, available, need.unit))
        else:
            result.takes.extend(takes)
    if result.shortfalls:
        result.takes = []
    return result


def allocate_batches(batches: list[tuple[UUID, list[Need], date]], lots: list[LotStock]) -> dict[UUID, Allocation]:
    """Each batch's needs (key, needs, day of use), in the order given, from the same lots: a batch
    takes what the earlier ones left. All or nothing across the batches: if any falls short, none
    takes anything, and each keeps its shortfalls (none for a batch that fitted)."""
    stock = {lot.lot_id: lot for lot in lots}
    allocations: dict[UUID, Allocation] = {}
    for key, needs, use_on in batches:
        try:
            allocation = allocate(needs, list(stock.values()), use_on)
        except Unprocessable:  # one material needed in incomparable units: nothing can be matched
            allocation = Allocation(shortfalls=[Short(n.material_id, n.quantity, Decimal(0), n.unit) for n in needs])
        for take in allocation.takes:
            lot = stock[take.lot.lot_id]
            stock[lot.lot_id] = replace(lot, available=lot.available - take.quantity)
        allocations[key] = allocation
    if not all(a.complete for a in allocations.values()):
        for allocation in allocations.values():
            allocation.takes = []
    return allocations


# --- lots and shortages -------------------------------------------------------------------------


def check_new_quantity(quantity: Decimal, reserved: Decimal) -> Decimal:
    """A lot's counted quantity may change, but never below what is reserved from it."""
    check_quantity(quantity)
    if quantity < reserved:
        raise Conflict(f"{reserved} of this lot is reserved for bookings; the quantity cannot go below it.")
    return quantity


@dataclass(frozen=True)
class Hold:
    """What one booking's confirmed reservation holds of a lot (in the lot's unit)."""

    booking_id: UUID
    reservation_id: UUID
    quantity: Decimal
    unit: str


def due_for_expiry(expires_on: date, expired_at: datetime | None, today: date) -> bool:
    """The expiry job marks a lot once: when it is past its expiry date and not marked yet."""
    return expired_at is None and past_expiry(expires_on, today)


def check_regions(regions: list[str]) -> list[str]:
    cleaned = sorted({r.strip().upper() for r in regions})
    if not cleaned:
        raise Unprocessable("Name at least one affected region (ISO country code, EU or EEA).")
    if bad := [r for r in cleaned if not REGION.match(r)]:
        raise Unprocessable(f"Unknown region(s) {', '.join(bad)}; use ISO 3166-1 alpha-2 codes, EU or EEA.")
    return cleaned


def check_shortage_open(status: str) -> None:
    if status != ShortageStatus.ACTIVE:
        raise Conflict("This shortage is resolved; declare a new one if the material runs short again.")


# --- supplier change notifications --------------------------------------------------------------


class SupplierChangeType(StrEnum):
    """What a supplier changed (BioPhorum's supplier change notification practice)."""

    PROCESS = "process"
    SITE = "site"
    FORMULATION = "formulation"
    RAW_MATERIAL = "raw_material"
    SPECIFICATION = "specification"
    PACKAGING = "packaging"
    OTHER = "other"


class RiskClass(StrEnum):
    """The change's potential impact on the materials' quality, as the supplier or the operator classed it."""

    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class ChangeOutcome(StrEnum):
    """A facility's assessed answer: keep using its affected lots, or quarantine them."""

    ACCEPTED = "accepted"
    QUARANTINE_LOTS = "quarantine_lots"


def check_supplier_change_materials(supplier_id: UUID, suppliers_of: dict[UUID, UUID | None]) -> None:
    """A supplier's change notification names only that supplier's materials (`suppliers_of`:
    each named material's supplier)."""
    others = sorted(str(m) for m, s in suppliers_of.items() if s != supplier_id)
    if others:
        raise Unprocessable(f"Materials {', '.join(others)} are not supplied by {supplier_id}.")


def check_unanswered(supplier_change_id: UUID, facility_id: UUID, outcome: str | None) -> None:
    """Each facility answers a supplier change once; a second answer would rewrite its assessment."""
    if outcome is not None:
        raise Conflict(f"Facility {facility_id} already answered supplier change {supplier_change_id} ({outcome}).")

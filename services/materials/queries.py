"""The reads the materials routers answer with: suppliers, catalogue search, a material with its
alternatives, lots, where a material is stocked (per facility), reservations, shortages with where
stock of their alternatives is, and the history of each. No changes.

Catalogue search is free text over names, synonyms and catalogue numbers, typo tolerant, with a
filter on every attribute and a total for pagination. A material matches the text if it has every
word of it, each as the start of a word of its own or, for a word the catalogue lacks, as one of
the catalogue's words closest to it (typos: "dynabaeds" finds "Dynabeads", through the vocabulary
in material_word); or, when the text is one word, if it contains the text (fragments of catalogue
numbers). Both are served by indexes, so only the matches are ranked (by full-text rank) and
counted."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from services.materials import models
from services.materials.repository import MaterialsUnitOfWork
from shared.database import UnitOfWork, event_history, get_or_404
from shared.problems import NotFound

# The catalogue's words a misspelt word may stand for: those at least pg_trgm's similarity
# threshold (0.3) alike, the closest first, at most this many.
ALIKE_WORDS = 3
# Shorter than a trigram, a word is alike to no other (nor worth the index scan to find one), and
# a fragment cannot use the trigram index: both are matched as word starts only.
SHORTEST_FRAGMENT = 3

# A material as the catalogue lists it: with its supplier and, when searched by text, its relevance.
Listed = tuple[models.Material, models.Supplier | None, float | None]
# A material's named equivalent: the link (its note), the alternative and the alternative's supplier.
Alternative = tuple[models.MaterialAlternative, models.Material, models.Supplier | None]


async def history(uow: UnitOfWork, key: UUID) -> list[dict[str, Any]]:
    """Every event of one aggregate (material, supplier, lot, shortage, a booking's reservation), oldest first."""
    return await event_history(uow.session, str(key))


# --- suppliers ----------------------------------------------------------------------------------


async def suppliers(
    uow: UnitOfWork, country: str | None, status: str | None, q: str | None = None
) -> list[models.Supplier]:
    """Suppliers by name; `q` keeps those whose name contains it (any case)."""
    query = select(models.Supplier).order_by(models.Supplier.name)
    if q:
        query = query.where(col(models.Supplier.name).icontains(q, autoescape=True))
    if country:
        query = query.where(models.Supplier.country == country)
    if status:
        query = query.where(models.Supplier.qualification_status == status)
    return list((await uow.session.exec(query)).all())


async def supplier(uow: UnitOfWork, supplier_id: UUID) -> models.Supplier:
    return await get_or_404(uow.session, models.Supplier, supplier_id, "supplier")


# --- catalogue search ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MaterialFilters:
    category: list[str] | None = None
    grade: list[str] | None = None
    usp1043_tier: list[int] | None = None
    origin: list[str] | None = None
    origin_species: str | None = None
    supplier_id: UUID | None = None
    supplier_country: str | None = None
    supplier_qualification: list[str] | None = None
    catalogue_number: str | None = None
    substance_id: str | None = None  # EMA SMS id or FDA UNII
    ph_eur_5_2_12: bool | None = None
    has_coa: bool | None = None
    has_dmf_cep: bool | None = None
    has_regulatory_support_file: bool | None = None
    tse_bse_statement: bool | None = None
    retired: bool | None = False


def _present(column: sa.ColumnElement, wanted: bool) -> sa.ColumnElement:
    return column.is_not(None) if wanted else column.is_(None)


def _conditions(f: MaterialFilters) -> list[sa.ColumnElement]:
    m, s = models.Material, models.Supplier
    conditions: list[sa.ColumnElement] = []
    if f.category:
        conditions.append(m.category.in_(f.category))  # type: ignore[attr-defined]
    if f.grade:
        conditions.append(m.grade.in_(f.grade))  # type: ignore[attr-defined]
    if f.usp1043_tier:
        conditions.append(m.usp1043_tier.in_(f.usp1043_tier))  # type: ignore[union-attr]
    if f.origin:
        conditions.append(m.origin.in_(f.origin))  # type: ignore[attr-defined]
    if f.origin_species:
        conditions.append(sa.func.lower(m.origin_species) == f.origin_species.lower())
    if f.supplier_id:
        conditions.append(m.supplier_id == f.supplier_id)
    if f.supplier_country:
        conditions.append(s.country == f.supplier_country)
    if f.supplier_qualification:
        conditions.append(s.qualification_status.in_(f.supplier_qualification))  # type: ignore[attr-defined]
    if f.catalogue_number:
        conditions.append(sa.func.lower(m.catalogue_number) == f.catalogue_number.lower())
    if f.substance_id and (wanted := f.substance_id.strip()):
        conditions.append(sa.or_(m.sms_substance_id == wanted, m.unii == wanted))
    if f.ph_eur_5_2_12 is not None:
        conditions.append(m.ph_eur_5_2_12.is_(f.ph_eur_5_2_12))  # type: ignore[attr-defined]
    for column, wanted in (
        (m.coa_reference, f.has_coa),
        (m.dmf_cep_reference, f.has_dmf_cep),
        (m.regulatory_support_file, f.has_regulatory_support_file),
        (m.tse_bse_statement, f.tse_bse_statement),
    ):
        if wanted is not None:
            conditions.append(_present(column, wanted))  # type: ignore[arg-type]
    if f.retired is not None:
        conditions.append(m.retired.is_(f.retired))  # type: ignore[attr-defined]
    return conditions


# Each word of the text (split as the search vectors are) and, if the catalogue lacks it, the
# catalogue's words alike to it (a word it has is taken as typed: "medium" is not also "median").
_ALIKE = sa.text("""
    SELECT typed,
           CASE WHEN length(typed) >= :shortest AND NOT EXISTS (SELECT FROM material_word WHERE word = typed)
                THEN ARRAY(SELECT word FROM material_word WHERE word % typed ORDER BY word <-> typed LIMIT :alike)
           END
    FROM unnest(tsvector_to_array(to_tsvector('simple', :text))) AS typed
""").bindparams(alike=ALIKE_WORDS, shortest=SHORTEST_FRAGMENT)


def _lexeme(word: str) -> str:
    """A word quoted as a tsquery lexeme."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


async def _words_query(uow: UnitOfWork, needle: str) -> str:
    """The full-text query for the text's words, in tsquery syntax: each word as a prefix or one of
    the catalogue's words alike, all of them required."""
    clauses = [
        "(" + " | ".join([_lexeme(typed) + ":*", *map(_lexeme, alike or [])]) + ")"
        for typed, alike in (await uow.session.execute(_ALIKE, {"text": needle})).all()
    ]
    return " & ".join(clauses)


async def search_materials(
    uow: UnitOfWork, text: str | None, filters: MaterialFilters, limit: int, offset: int
) -> tuple[list[Listed], int]:
    """One page of matching materials (with supplier and relevance) and the total count."""
    m, s = models.Material, models.Supplier
    # Reads that need no transaction around them: autocommit spares a BEGIN and a ROLLBACK.
    await uow.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    conditions = _conditions(filters)
    score: sa.ColumnElement = sa.null()
    if text and text.strip():
        needle = " ".join(text.lower().split())
        words = await _words_query(uow, needle)
        tsquery = sa.cast(words, postgresql.TSQUERY)
        matches = [m.search_vector.op("@@")(tsquery)] if words else []  # type: ignore[union-attr]
        if len(needle) >= SHORTEST_FRAGMENT and " " not in needle:
            matches.append(m.search_text.contains(needle, autoescape=True))  # type: ignore[attr-defined]
        conditions.append(sa.or_(sa.false(), *matches))
        score = sa.func.ts_rank(m.search_vector, tsquery)
    # The matches are ranked and counted on their ids alone, in one pass; only the page's rows are read whole.
    hits = (
        sa.select(m.id, m.name, score.label("score"), sa.func.count().over().label("total"))
        .join(s, s.id == m.supplier_id, isouter=True)  # type: ignore[arg-type]
        .where(*conditions)
        .order_by(sa.desc("score"), m.name, m.id)
        .limit(limit)
        .offset(offset)
        .subquery("hits")
    )
    page = (
        select(m, s, hits.c.score, hits.c.total)
        .join(hits, hits.c.id == m.id)
        .join(s, s.id == m.supplier_id, isouter=True)  # type: ignore[arg-type]
        .order_by(hits.c.score.desc(), hits.c.name, hits.c.id)
    )
    rows = (await uow.session.exec(page)).all()  # type: ignore[call-overload]
    if rows or not offset:
        total = rows[0].total if rows else 0
    else:  # a page past the last match: the total needs a count of its own
        counted = sa.select(sa.func.count()).select_from(m).join(s, s.id == m.supplier_id, isouter=True)  # type: ignore[arg-type]
        total = await uow.session.scalar(counted.where(*conditions))
    return [(row[0], row[1], row[2]) for row in rows], int(total or 0)


# --- a material and its alternatives ------------------------------------------------------------


@dataclass(frozen=True)
class MaterialRecord:
    material: models.Material
    supplier: models.Supplier | None
    alternatives: list[Alternative]


async def _material(uow: UnitOfWork, material_id: UUID) -> tuple[models.Material, models.Supplier | None]:
    material = await get_or_404(uow.session, models.Material, material_id, "material")
    supplier = await uow.session.get(models.Supplier, material.supplier_id) if material.supplier_id else None
    return material, supplier


async def _alternatives_of(uow: UnitOfWork, material_id: UUID) -> list[Alternative]:
    """The current, non-retired alternatives a material names, with their suppliers, by name."""
    alternative, material, supplier = models.MaterialAlternative, models.Material, models.Supplier
    query = (
        select(alternative, material, supplier)
        .join(material, material.id == alternative.alternative_id)
        .join(supplier, supplier.id == material.supplier_id, isouter=True)
        .where(alternative.material_id == material_id, col(alternative.withdrawn).is_(False))
        .where(col(material.retired).is_(False))
        .order_by(material.name)
    )
    return [(link, alt, alt_supplier) for link, alt, alt_supplier in (await uow.session.exec(query)).all()]


async def material_record(uow: UnitOfWork, material_id: UUID) -> MaterialRecord:
    """A material with its supplier and the alternatives it names."""
    material, supplier = await _material(uow, material_id)
    return MaterialRecord(material, supplier, await _alternatives_of(uow, material_id))


async def alternatives(uow: UnitOfWork, material_id: UUID) -> list[Alternative]:
    """The alternatives a material names (NotFound if there is no such material)."""
    await get_or_404(uow.session, models.Material, material_id, "material")
    return await _alternatives_of(uow, material_id)


# --- lots and reservations ----------------------------------------------------------------------


async def lots(uow: UnitOfWork, facility_id: UUID, material_id: UUID | None, include_expired: bool) -> list[models.Lot]:
    """The facility's lots, earliest expiry first."""
    query = select(models.Lot).where(models.Lot.facility_id == facility_id)
    if material_id:
        query = query.where(models.Lot.material_id == material_id)
    if not include_expired:
        query = query.where(models.Lot.expires_on >= models.today())
    return list((await uow.session.exec(query.order_by(models.Lot.expires_on, models.Lot.lot_number))).all())


async def lot(uow: UnitOfWork, lot_id: UUID) -> models.Lot:
    return await get_or_404(uow.session, models.Lot, lot_id, "lot")


async def lot_history(uow: UnitOfWork, lot_id: UUID) -> tuple[models.Lot, list[dict[str, Any]]]:
    """A lot (whose facility says who may read it) and every change to it."""
    return await lot(uow, lot_id), await history(uow, lot_id)


@dataclass(frozen=True)
class ReservationRecord:
    reservation: models.Reservation
    lines: list[models.ReservationLine]


async def _lines_of(uow: UnitOfWork, reservation_ids: list[UUID]) -> dict[UUID, list[models.ReservationLine]]:
    line = models.ReservationLine
    query = select(line).where(col(line.reservation_id).in_(reservation_ids)).order_by(col(line.id))
    lines: dict[UUID, list[models.ReservationLine]] = defaultdict(list)
    for found in (await uow.session.exec(query)).all():
        lines[found.reservation_id].append(found)
    return lines


async def reservations(uow: UnitOfWork, facility_id: UUID, status: str | None) -> list[ReservationRecord]:
    """What bookings reserved from the facility's lots, newest first."""
    query = select(models.Reservation).where(models.Reservation.facility_id == facility_id)
    if status:
        query = query.where(models.Reservation.status == status)
    found = (await uow.session.exec(query.order_by(col(models.Reservation.updated_at).desc()))).all()
    lines = await _lines_of(uow, [r.id for r in found])
    return [ReservationRecord(r, lines[r.id]) for r in found]


async def _reservation_of(uow: UnitOfWork, booking_id: UUID) -> models.Reservation:
    query = select(models.Reservation).where(models.Reservation.booking_id == booking_id)
    if (reservation := (await uow.session.exec(query)).first()) is None:
        raise NotFound(f"Materials holds no reservation for booking {booking_id}.")
    return reservation


async def reservation(uow: UnitOfWork, booking_id: UUID) -> ReservationRecord:
    """The booking's reservation with its lines."""
    found = await _reservation_of(uow, booking_id)
    return ReservationRecord(found, (await _lines_of(uow, [found.id]))[found.id])


async def reservation_history(uow: UnitOfWork, booking_id: UUID) -> tuple[models.Reservation, list[dict[str, Any]]]:
    """The booking's reservation (whose facility says who may read it) and every event of it."""
    return await _reservation_of(uow, booking_id), await history(uow, booking_id)


# --- shortages ----------------------------------------------------------------------------------


async def shortages(
    uow: UnitOfWork, material_id: UUID | None, status: str | None, region: str | None,
    q: str | None = None, limit: int = 100, offset: int = 0,
) -> list[models.Shortage]:  # fmt: skip
    """A page of shortages, newest first; `q` keeps those whose material's name (or synonyms) or
    reason contains it. The materials are found by the catalogue search's trigram-indexed text."""
    query = select(models.Shortage)
    if q:
        needle = " ".join(q.lower().split())
        named = select(models.Material.id).where(col(models.Material.search_text).contains(needle, autoescape=True))
        query = query.where(
            col(models.Shortage.material_id).in_(named) | col(models.Shortage.reason).icontains(q, autoescape=True)
        )
    if material_id:
        query = query.where(models.Shortage.material_id == material_id)
    if status:
        query = query.where(models.Shortage.status == status)
    if region:
        query = query.where(models.Shortage.regions.any(region.upper()))  # type: ignore[attr-defined]
    query = query.order_by(col(models.Shortage.created_at).desc(), col(models.Shortage.id)).limit(limit).offset(offset)
    return list((await uow.session.exec(query)).all())


async def shortage_history(uow: UnitOfWork, shortage_id: UUID) -> list[dict[str, Any]]:
    """Every change to a shortage (NotFound if there is no such shortage)."""
    await get_or_404(uow.session, models.Shortage, shortage_id, "shortage")
    return await history(uow, shortage_id)


# --- where materials are stocked ----------------------------------------------------------------


@dataclass(frozen=True)
class StockAt:
    material_id: UUID
    facility_id: UUID
    unit: str
    available: Decimal
    lots: int
    earliest_expiry: date


@dataclass(frozen=True)
class ShortageRecord:
    shortage: models.Shortage
    material: models.Material
    supplier: models.Supplier | None
    alternatives: list[Alternative]
    stock: list[StockAt]  # of the alternatives


async def _stock_of(uow: UnitOfWork, material_ids: list[UUID]) -> list[StockAt]:
    """Where unexpired, unreserved, unquarantined stock of these materials is, per facility and unit: one grouped
    statement (lot's index on material_id finds the lots)."""
    if not material_ids:
        return []
    lot = models.Lot
    query = (
        sa.select(
            lot.material_id, lot.facility_id, lot.unit,
            sa.func.sum(lot.quantity - lot.reserved), sa.func.count(), sa.func.min(lot.expires_on),
        )
        .where(col(lot.material_id).in_(material_ids))
        # domain.past_expiry, as a lot's read (api_inventory.lot_out) applies it: usable through its
        # expiry day, so a lot is stock while expires_on >= today; only what is not reserved counts
        .where(lot.expires_on >= models.today(), lot.quantity > lot.reserved, col(lot.quarantined_at).is_(None))
        .group_by(lot.material_id, lot.facility_id, lot.unit)
        .order_by(lot.material_id, sa.func.sum(lot.quantity - lot.reserved).desc(), lot.facility_id)
    )  # fmt: skip
    return [StockAt(*row) for row in (await uow.session.execute(query)).all()]


async def stock(uow: UnitOfWork, material_id: UUID) -> list[StockAt]:
    """Where a material is stocked, per facility, the most first (NotFound if there is no such material)."""
    await get_or_404(uow.session, models.Material, material_id, "material")
    return await _stock_of(uow, [material_id])


async def shortage_record(uow: UnitOfWork, shortage_id: UUID) -> ShortageRecord:
    """A shortage with its material, the material's alternatives and where stock of them is."""
    shortage = await get_or_404(uow.session, models.Shortage, shortage_id, "shortage")
    material, supplier = await _material(uow, shortage.material_id)
    named = await _alternatives_of(uow, material.id)
    stock = await _stock_of(uow, [alt.id for _, alt, _ in named])
    return ShortageRecord(shortage, material, supplier, named, stock)


# --- supplier change notifications --------------------------------------------------------------


def _outstanding(change_id: Any) -> sa.ScalarSelect:
    """How many facilities have not answered the change (an alias: the outer query may join answers too)."""
    answers = aliased(models.SupplierChangeFacility)
    return (
        sa.select(sa.func.count())
        .where(answers.supplier_change_id == change_id, col(answers.outcome).is_(None))
        .scalar_subquery()
    )


async def supplier_changes(
    uow: UnitOfWork,
    material_id: UUID | None,
    supplier_id: UUID | None,
    facility_id: UUID | None,
    outstanding: bool | None,
) -> list[tuple[models.SupplierChange, int]]:
    """Supplier changes, newest first, each with how many facilities have not answered; with
    `facility_id`, those that reached it (and `outstanding`: those it has, or has not, answered)."""
    change, answers = models.SupplierChange, models.SupplierChangeFacility
    query = select(change, _outstanding(change.id))
    if material_id:
        query = query.where(change.material_ids.any(material_id))  # type: ignore[attr-defined]
    if supplier_id:
        query = query.where(change.supplier_id == supplier_id)
    if facility_id or outstanding is not None:
        reached = sa.select(answers.supplier_change_id).where(answers.supplier_change_id == change.id)
        if facility_id:
            reached = reached.where(answers.facility_id == facility_id)
        if outstanding is not None:
            reached = reached.where(
                col(answers.outcome).is_(None) if outstanding else col(answers.outcome).is_not(None)
            )
        query = query.where(reached.exists())
    found = await uow.session.exec(query.order_by(col(change.created_at).desc(), col(change.id)))
    return [(row, count) for row, count in found.all()]


@dataclass(frozen=True)
class SupplierChangeRecord:
    change: models.SupplierChange
    lots: list[models.SupplierChangeLot]
    facilities: list[models.SupplierChangeFacility]
    bookings: list[tuple[UUID, UUID, UUID, UUID]]  # (booking, reservation, facility, lot) holding its lots now


async def supplier_change_record(uow: MaterialsUnitOfWork, supplier_change_id: UUID) -> SupplierChangeRecord:
    """A supplier change with the lots it touched, each facility's answer, and the confirmed
    reservations holding those lots now."""
    change = await uow.supplier_changes.get(supplier_change_id)
    lots = await uow.supplier_changes.lots(supplier_change_id)
    facilities = await uow.supplier_changes.facilities(supplier_change_id)
    return SupplierChangeRecord(change, lots, facilities, await uow.reservations.holding([x.lot_id for x in lots]))


async def supplier_change_history(uow: UnitOfWork, supplier_change_id: UUID) -> list[dict[str, Any]]:
    await get_or_404(uow.session, models.SupplierChange, supplier_change_id, "supplier change")
    return await history(uow, supplier_change_id)


async def supplier_changes_of_lots(
    uow: UnitOfWork, lot_ids: list[UUID]
) -> list[tuple[models.SupplierChange, int, list[UUID], str | None]]:
    """The supplier changes touching these lots: each with its outstanding facilities, the lots it
    touches among them and the answer of the facility holding them."""
    if not lot_ids:
        return []
    change, touched, answers = models.SupplierChange, models.SupplierChangeLot, models.SupplierChangeFacility
    query = (
        sa.select(change, _outstanding(change.id), sa.func.array_agg(touched.lot_id), answers.outcome)
        .join(touched, col(touched.supplier_change_id) == col(change.id))
        .join(answers, sa.and_(answers.supplier_change_id == change.id, answers.facility_id == touched.facility_id))
        .where(col(touched.lot_id).in_(lot_ids))
        .group_by(change.id, answers.outcome)
        .order_by(col(change.created_at).desc())
    )
    return [(row, count, sorted(ids), outcome) for row, count, ids, outcome in (await uow.session.execute(query)).all()]

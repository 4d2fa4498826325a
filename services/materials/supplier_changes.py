"""Supplier change notification use cases: the hub operator records a supplier's change (what,
which of its materials, from when, how risky), which reaches every facility holding lots of those
materials and the bookings whose reservations hold them; each facility answers once, accepting
the change or quarantining its affected lots (never reserved again). The caller commits."""

from collections import defaultdict
from dataclasses import asdict
from datetime import date
from uuid import UUID

from services.materials import events, models
from services.materials.domain import (
    ChangeOutcome,
    Hold,
    RiskClass,
    SupplierChangeType,
    check_supplier_change_materials,
    check_unanswered,
    plain,
)
from services.materials.repository import MaterialsUnitOfWork
from shared.problems import NotFound, Unprocessable


def change_state(
    change: models.SupplierChange,
    lots: list[models.SupplierChangeLot],
    facilities: list[models.SupplierChangeFacility],
) -> events.SupplierChangeState:
    lots_at: dict[UUID, list[UUID]] = defaultdict(list)
    for touched in lots:
        lots_at[touched.facility_id].append(touched.lot_id)
    return events.SupplierChangeState(
        supplier_change_id=change.id, supplier_id=change.supplier_id, change_type=change.change_type,
        description=change.description, material_ids=list(change.material_ids), effective_on=change.effective_on,
        risk_class=change.risk_class,
        facilities=[
            events.SupplierChangeFacility(**f.model_dump(exclude={"supplier_change_id"}), lot_ids=lots_at[f.facility_id])
            for f in facilities
        ],
    )  # fmt: skip


def bookings_holding(held: list[tuple[UUID, UUID, UUID, UUID]]) -> list[events.SupplierChangeBooking]:
    """(booking, reservation, facility, lot) rows as one entry per booking."""
    by_booking: dict[tuple[UUID, UUID, UUID], list[UUID]] = defaultdict(list)
    for booking_id, reservation_id, facility_id, lot_id in held:
        by_booking[(booking_id, reservation_id, facility_id)].append(lot_id)
    return [
        events.SupplierChangeBooking(booking_id=b, reservation_id=r, facility_id=f, lot_ids=lot_ids)
        for (b, r, f), lot_ids in by_booking.items()
    ]


async def record(
    uow: MaterialsUnitOfWork,
    supplier_id: UUID,
    change_type: SupplierChangeType,
    description: str,
    material_ids: list[UUID],
    effective_on: date,
    risk_class: RiskClass,
) -> models.SupplierChange:
    await uow.suppliers.get(supplier_id)
    named = {material_id: await uow.materials.find(material_id) for material_id in dict.fromkeys(material_ids)}
    if unknown := sorted(str(m) for m, row in named.items() if row is None):
        raise Unprocessable(f"No material {', '.join(unknown)} in the catalogue.")
    check_supplier_change_materials(supplier_id, {m: row.supplier_id for m, row in named.items() if row})
    change = models.SupplierChange(
        supplier_id=supplier_id, change_type=change_type.value, description=description, material_ids=list(named),
        effective_on=effective_on, risk_class=risk_class.value, created_by=uow.actor, updated_by=uow.actor,
    )  # fmt: skip
    held = await uow.lots.holding(list(named))
    lots = [
        models.SupplierChangeLot(supplier_change_id=change.id, lot_id=x.id, facility_id=x.facility_id) for x in held
    ]
    facilities = [
        models.SupplierChangeFacility(supplier_change_id=change.id, facility_id=facility_id)
        for facility_id in sorted({x.facility_id for x in held})
    ]
    await uow.supplier_changes.add(change, lots, facilities)
    bookings = bookings_holding(await uow.reservations.holding([x.id for x in held]))
    uow.emit(
        events.SupplierChangeRecorded(
            supplier_change_id=change.id, supplier_change=change_state(change, lots, facilities), bookings=bookings
        )
    )
    return change


async def answer(
    uow: MaterialsUnitOfWork, supplier_change_id: UUID, facility_id: UUID, outcome: ChangeOutcome, assessment: str
) -> models.SupplierChangeFacility:
    """The facility's assessed answer, once; `quarantine_lots` quarantines its lots the change touched."""
    change = await uow.supplier_changes.get(supplier_change_id)
    answered = await uow.supplier_changes.answer_of(supplier_change_id, facility_id)
    if answered is None:
        raise NotFound(f"Facility {facility_id} held no lots supplier change {supplier_change_id} touches.")
    check_unanswered(supplier_change_id, facility_id, answered.outcome)
    touched = await uow.supplier_changes.lots(supplier_change_id)
    quarantined = []
    if outcome is ChangeOutcome.QUARANTINE_LOTS:
        own = await uow.lots.locked([x.lot_id for x in touched if x.facility_id == facility_id])
        for lot in own.values():
            if lot.quarantined_at is None:
                _quarantine(uow, lot, change.id, await uow.reservations.holds_on(lot.id))
                quarantined.append(lot.id)
    answered.outcome, answered.assessment = outcome.value, assessment
    answered.answered_at, answered.answered_by = models.now(), uow.actor
    state = change_state(change, touched, await uow.supplier_changes.facilities(supplier_change_id))
    uow.emit(
        events.SupplierChangeAnswered(
            supplier_change_id=change.id, facility_id=facility_id, outcome=outcome.value, assessment=assessment,
            quarantined_lot_ids=quarantined, supplier_change=state,
        )
    )  # fmt: skip
    return answered


def _quarantine(uow: MaterialsUnitOfWork, lot: models.Lot, change_id: UUID, holds: list[Hold]) -> None:
    lot.quarantined_at, lot.quarantined_by_change_id = models.now(), change_id
    lot.version += 1
    lot.updated_at, lot.updated_by = lot.quarantined_at, uow.actor or ""
    uow.lots.add(lot)
    uow.emit(
        events.LotQuarantined.model_validate(
            lot.model_dump() | {
                "lot_id": lot.id, "supplier_change_id": change_id,
                "holds": [asdict(h) | {"quantity": plain(h.quantity)} for h in holds],
            }
        )
    )  # fmt: skip

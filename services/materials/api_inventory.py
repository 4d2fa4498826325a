"""Materials HTTP API under /v1: facility inventory lots, where a material is stocked, and the
reservations bookings made."""

from decimal import Decimal
from functools import partial
from uuid import UUID

from fastapi import APIRouter, status

from services.materials import inventory, queries
from services.materials.api_catalogue import supplier_change_brief
from services.materials.domain import ReservationStatus, past_expiry
from services.materials.models import Lot, today
from services.materials.schemas import (
    LotCount,
    LotIn,
    LotOut,
    ReservationLineOut,
    ReservationOut,
    ReservationSupplierChange,
    StockOut,
)
from shared.auth import CurrentPrincipal, Principal
from shared.service import Context

router = APIRouter(prefix="/v1", tags=["inventory"])


def lot_out(lot: Lot) -> LotOut:
    # By the date, not the job's mark: a lot is expired from the day after `expires_on` even in the
    # moments before the job's next round; what it still holds for bookings stays in `reserved`.
    expired = past_expiry(lot.expires_on, today())
    available = Decimal(0) if expired or lot.quarantined_at else lot.quantity - lot.reserved
    return LotOut.model_validate(lot.model_dump() | {"available": available, "expired": expired})


def may_read_facility(principal: Principal, facility_id: UUID) -> None:
    """A facility reads its own inventory; regulators (inspection) and the operator read any."""
    principal.require_facility_reader(str(facility_id))


def may_count(principal: Principal, lot: Lot) -> None:
    """A lot is counted by its own facility (or the operator)."""
    principal.require_facility(str(lot.facility_id))


def reservation_out(record: queries.ReservationRecord, changes: list | None = None) -> ReservationOut:
    """`changes`: the supplier changes touching its lots (queries.supplier_changes_of_lots)."""
    r = record.reservation
    return ReservationOut(
        reservation_id=r.id, booking_id=r.booking_id, booking_version=r.booking_version, facility_id=r.facility_id,
        status=r.status, shortfalls=r.shortfalls, updated_at=r.updated_at,
        lines=[ReservationLineOut.model_validate(line, from_attributes=True) for line in record.lines],
        supplier_changes=[
            ReservationSupplierChange(
                **supplier_change_brief(change, outstanding).model_dump(), lot_ids=lot_ids, outcome=outcome
            )
            for change, outstanding, lot_ids, outcome in changes or []
        ],
    )  # fmt: skip


@router.post("/facilities/{facility_id}/lots", status_code=status.HTTP_201_CREATED, response_model=LotOut,
             summary="Record a lot the facility holds (facility user of that facility, or admin)")  # fmt: skip
async def record_lot(facility_id: UUID, body: LotIn, principal: CurrentPrincipal, context: Context) -> LotOut:
    principal.require_facility(str(facility_id))
    async with context.db.unit_of_work(principal.actor) as uow:
        lot = await inventory.record_lot(
            uow, facility_id, body.material_id, body.lot_number, body.expires_on, body.quantity, body.unit
        )
        await uow.commit()
    return lot_out(lot)


@router.get("/facilities/{facility_id}/lots", response_model=list[LotOut],
            summary="The facility's lots, earliest expiry first")  # fmt: skip
async def list_lots(
    facility_id: UUID, principal: CurrentPrincipal, context: Context,
    material_id: UUID | None = None, include_expired: bool = False,
) -> list[LotOut]:  # fmt: skip
    may_read_facility(principal, facility_id)
    async with context.db.unit_of_work(principal.actor) as uow:
        return [lot_out(lot) for lot in await queries.lots(uow, facility_id, material_id, include_expired)]


@router.get("/lots/{lot_id}", response_model=LotOut, summary="Read a lot")
async def read_lot(lot_id: UUID, principal: CurrentPrincipal, context: Context) -> LotOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        lot = await queries.lot(uow, lot_id)
        may_read_facility(principal, lot.facility_id)
        return lot_out(lot)


# Under /materials but read from the lots: inventory's, summed per facility so that anyone signed in
# (developers too) learns where a material is without the facility's lots, numbers or reservations.
@router.get("/materials/{material_id}/stock", response_model=list[StockOut],
            summary="Where a material is stocked: per facility, what is available of its unexpired lots (anyone signed in)")  # fmt: skip
async def material_stock(material_id: UUID, principal: CurrentPrincipal, context: Context) -> list[StockOut]:
    async with context.db.unit_of_work(principal.actor) as uow:
        return [StockOut.model_validate(s, from_attributes=True) for s in await queries.stock(uow, material_id)]


@router.post("/lots/{lot_id}/count", response_model=LotOut,
             summary="Correct a lot's counted quantity, with a reason; never below what is reserved")  # fmt: skip
async def count_lot(lot_id: UUID, body: LotCount, principal: CurrentPrincipal, context: Context) -> LotOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        lot = await inventory.count_lot(
            uow, lot_id, body.quantity, body.reason, authorise=partial(may_count, principal)
        )
        await uow.commit()
    return lot_out(lot)


@router.get("/lots/{lot_id}/history", summary="Every change to a lot, oldest first")
async def lot_history(lot_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.unit_of_work(principal.actor) as uow:
        lot, history = await queries.lot_history(uow, lot_id)
        may_read_facility(principal, lot.facility_id)
        return history


@router.get("/facilities/{facility_id}/reservations", response_model=list[ReservationOut], tags=["reservations"],
            summary="What bookings reserved from the facility's lots, newest first")  # fmt: skip
async def list_reservations(
    facility_id: UUID, principal: CurrentPrincipal, context: Context, status: ReservationStatus | None = None
) -> list[ReservationOut]:
    may_read_facility(principal, facility_id)
    async with context.db.unit_of_work(principal.actor) as uow:
        return [reservation_out(r) for r in await queries.reservations(uow, facility_id, status)]


@router.get("/reservations/{booking_id}", response_model=ReservationOut, tags=["reservations"],
            summary="The materials reservation of a booking (the facility, regulators, admin), with the supplier "
                    "changes touching its lots")  # fmt: skip
async def read_reservation(booking_id: UUID, principal: CurrentPrincipal, context: Context) -> ReservationOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        record = await queries.reservation(uow, booking_id)
        may_read_facility(principal, record.reservation.facility_id)
        changes = await queries.supplier_changes_of_lots(uow, [line.lot_id for line in record.lines])
        return reservation_out(record, changes)


@router.get("/reservations/{booking_id}/history", tags=["reservations"],
            summary="Every reservation event of a booking, oldest first")  # fmt: skip
async def reservation_history(booking_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.unit_of_work(principal.actor) as uow:
        reservation, history = await queries.reservation_history(uow, booking_id)
        may_read_facility(principal, reservation.facility_id)
        return history

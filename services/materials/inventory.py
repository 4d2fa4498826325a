"""Facility inventory, the reservation saga and lot expiry. The caller commits (the API, the
consumer, or the expiry job).

Concurrency: reserving locks the facility's candidate lots with SELECT ... FOR UPDATE in lot-id
order (one order for everyone, so no deadlocks), re-reads their stock under the lock and only then
allocates; two bookings can never both take the same last millilitre. The lot's CHECK constraint
(reserved <= quantity) is the last line behind that. The expiry job never waits for a lock: it
skips locked lots (SKIP LOCKED) and takes them on a later round."""

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col, select

from services.materials import events, inbound, models
from services.materials.domain import (
    Allocation,
    LotStock,
    Need,
    ReservationStatus,
    Short,
    allocate,
    check_new_quantity,
    check_quantity,
    due_for_expiry,
    normalise_unit,
    plain,
)
from shared.database import UnitOfWork, get_or_404
from shared.errors import Conflict, NotFound, Unprocessable


def today() -> date:
    return datetime.now(UTC).date()


def lot_recorded(lot: models.Lot, reason: str | None = None) -> events.LotRecorded:
    return events.LotRecorded(
        lot_id=lot.id,
        facility_id=lot.facility_id,
        material_id=lot.material_id,
        lot_number=lot.lot_number,
        expires_on=lot.expires_on,
        quantity=lot.quantity,
        unit=lot.unit,
        version=lot.version,
        reserved=lot.reserved,
        reason=reason,
        expired_at=lot.expired_at,
    )


def lot_expired(lot: models.Lot, holds: list[events.ExpiredLotHold]) -> events.LotExpired:
    return events.LotExpired(
        lot_id=lot.id,
        facility_id=lot.facility_id,
        material_id=lot.material_id,
        lot_number=lot.lot_number,
        expires_on=lot.expires_on,
        expired_at=lot.expired_at,
        quantity=lot.quantity,
        unit=lot.unit,
        version=lot.version,
        reserved=lot.reserved,
        holds=holds,
    )


async def record_lot(
    uow: UnitOfWork,
    facility_id: UUID,
    material_id: UUID,
    lot_number: str,
    expires_on: date,
    quantity: Decimal,
    unit: str,
) -> models.Lot:
    material = await uow.session.get(models.Material, material_id)
    if material is None:
        raise Unprocessable(f"No material {material_id} in the catalogue; register it first.")
    if material.retired:
        raise Conflict(f"Material {material_id} is retired; no new lots of it can be recorded.")
    lot_number = lot_number.strip()
    taken = await uow.session.scalar(
        sa.select(models.Lot.id).where(
            models.Lot.facility_id == facility_id,
            models.Lot.material_id == material_id,
            models.Lot.lot_number == lot_number,
        )
    )
    if taken:
        raise Conflict(f"This facility recorded lot {lot_number} of this material already ({taken}).")
    lot = models.Lot(
        facility_id=facility_id, material_id=material_id, lot_number=lot_number, expires_on=expires_on,
        quantity=check_quantity(quantity), unit=normalise_unit(unit), created_by=uow.actor, updated_by=uow.actor,
    )  # fmt: skip
    uow.session.add(lot)
    uow.emit(lot_recorded(lot))
    return lot


async def get_lot(uow: UnitOfWork, lot_id: UUID, *, for_update: bool = False) -> models.Lot:
    return await get_or_404(uow.session, models.Lot, lot_id, "lot", lock=for_update)


async def count_lot(uow: UnitOfWork, lot: models.Lot, quantity: Decimal, reason: str) -> models.Lot:
    """Correct a lot's counted quantity (stock-take, use, breakage); `lot` is locked by the caller."""
    check_new_quantity(quantity, lot.reserved)
    if quantity == lot.quantity:
        return lot
    lot.quantity = quantity
    lot.version += 1
    lot.updated_at, lot.updated_by = models.now(), uow.actor
    uow.session.add(lot)
    uow.emit(lot_recorded(lot, reason))
    return lot


async def list_lots(
    uow: UnitOfWork, facility_id: UUID, material_id: UUID | None, include_expired: bool
) -> list[models.Lot]:
    query = select(models.Lot).where(models.Lot.facility_id == facility_id)
    if material_id:
        query = query.where(models.Lot.material_id == material_id)
    if not include_expired:
        query = query.where(models.Lot.expires_on >= today())
    return list((await uow.session.exec(query.order_by(models.Lot.expires_on, models.Lot.lot_number))).all())


# --- the saga -----------------------------------------------------------------------------------


def _needs(booking: inbound.Booking) -> list[Need]:
    """The booking's needs in canonical units; an unknown unit stays as given and falls short."""
    needs = []
    for need in booking.material_needs:
        try:
            unit = normalise_unit(need.unit)
        except Unprocessable:
            unit = need.unit
        needs.append(Need(need.material_id, need.quantity, unit))
    return needs


async def _locked_lots(uow: UnitOfWork, ids: list[UUID] | None = None, **where: object) -> dict[UUID, models.Lot]:
    query = select(models.Lot).order_by(models.Lot.id).with_for_update()
    if ids is not None:
        query = query.where(models.Lot.id.in_(ids))  # type: ignore[attr-defined]
    else:
        query = query.where(
            models.Lot.facility_id == where["facility_id"],
            models.Lot.material_id.in_(where["material_ids"]),  # type: ignore[attr-defined]
            models.Lot.expires_on >= where["use_on"],
            models.Lot.quantity > models.Lot.reserved,
        )
    return {lot.id: lot for lot in (await uow.session.exec(query)).all()}


async def reserve_for_booking(uow: UnitOfWork, event: inbound.BookingConfirmed) -> None:
    """All or nothing from the facility's lots, earliest expiry first; one reservation per booking."""
    booking = event.booking
    reservation = (
        await uow.session.exec(
            select(models.Reservation).where(models.Reservation.booking_id == event.booking_id).with_for_update()
        )
    ).first()
    if reservation is not None and (
        reservation.status != ReservationStatus.FAILED or booking.version <= reservation.booking_version
    ):
        # Handled already: scheduling asks again when an answer went missing (its saga deadline),
        # so send the answer given then once more. Released or consumed: the booking has moved on.
        await _answer_again(uow, reservation)
        return
    needs = _needs(booking)
    use_on = max(today(), booking.starts_at.astimezone(UTC).date())  # not a lot that expires before the run
    lots = await _locked_lots(
        uow, facility_id=booking.facility_id, material_ids=sorted({n.material_id for n in needs}), use_on=use_on
    )
    stock = [
        LotStock(lot.id, lot.material_id, lot.lot_number, lot.expires_on, lot.quantity - lot.reserved, lot.unit)
        for lot in lots.values()
    ]
    try:
        allocation = allocate(needs, stock, use_on)
    except Unprocessable:  # one material needed in incomparable units: nothing can be matched
        allocation = Allocation(shortfalls=[Short(n.material_id, n.quantity, Decimal(0), n.unit) for n in needs])
    if reservation is None:
        reservation = models.Reservation(
            booking_id=event.booking_id, booking_version=booking.version, facility_id=booking.facility_id,
            status=ReservationStatus.FAILED, updated_by=uow.actor or "",
        )  # fmt: skip
    reservation.booking_version = booking.version
    reservation.updated_at, reservation.updated_by = models.now(), uow.actor or ""
    if not allocation.complete:
        short = [
            events.Shortfall(
                material_id=s.material_id, requested=plain(s.requested), available=plain(s.available), unit=s.unit
            )
            for s in allocation.shortfalls
        ]
        reservation.status = ReservationStatus.FAILED
        reservation.shortfalls = [s.model_dump(mode="json") for s in short]
        uow.session.add(reservation)
        uow.emit(
            events.ReservationFailed(booking_id=event.booking_id, facility_id=booking.facility_id, shortfalls=short)
        )
        return
    reservation.status = ReservationStatus.CONFIRMED
    reservation.shortfalls = []
    uow.session.add(reservation)
    await uow.session.flush()  # the reservation row exists before its lines refer to it
    lines = []
    for take in allocation.takes:
        lot = lots[take.lot.lot_id]
        lot.reserved += take.quantity
        uow.session.add(lot)
        line = models.ReservationLine(
            reservation_id=reservation.id, lot_id=lot.id, material_id=lot.material_id, quantity=take.quantity,
            unit=lot.unit,
        )  # fmt: skip
        uow.session.add(line)
        lines.append(events.ReservedLine(
            material_id=lot.material_id, lot_id=lot.id, lot_number=lot.lot_number, quantity=plain(take.quantity),
            unit=lot.unit,
        ))  # fmt: skip
    uow.emit(
        events.ReservationConfirmed(
            booking_id=event.booking_id, reservation_id=reservation.id, facility_id=booking.facility_id, lines=lines
        )
    )


async def _answer_again(uow: UnitOfWork, reservation: models.Reservation) -> None:
    """The stored outcome as a new event (a new id, caused by the repeated request)."""
    if reservation.status == ReservationStatus.FAILED:
        uow.emit(
            events.ReservationFailed(
                booking_id=reservation.booking_id,
                facility_id=reservation.facility_id,
                shortfalls=[events.Shortfall.model_validate(s) for s in reservation.shortfalls],
            )
        )
    elif reservation.status == ReservationStatus.CONFIRMED:
        lines = await reservation_lines(uow, reservation.id)
        lots = await _locked_lots(uow, ids=[line.lot_id for line in lines])
        in_allocation_order = sorted(
            lines, key=lambda line: (lots[line.lot_id].expires_on, lots[line.lot_id].lot_number)
        )
        uow.emit(
            events.ReservationConfirmed(
                booking_id=reservation.booking_id, reservation_id=reservation.id, facility_id=reservation.facility_id,
                lines=[_reserved_line(line, lots[line.lot_id]) for line in in_allocation_order],
            )
        )  # fmt: skip


def _reserved_line(line: models.ReservationLine, lot: models.Lot) -> events.ReservedLine:
    return events.ReservedLine(
        material_id=line.material_id, lot_id=lot.id, lot_number=lot.lot_number, quantity=plain(line.quantity),
        unit=line.unit,
    )  # fmt: skip


async def _confirmed_reservation(uow: UnitOfWork, booking_id: UUID) -> models.Reservation | None:
    reservation = (
        await uow.session.exec(
            select(models.Reservation).where(models.Reservation.booking_id == booking_id).with_for_update()
        )
    ).first()
    return reservation if reservation is not None and reservation.status == ReservationStatus.CONFIRMED else None


async def reservation_lines(uow: UnitOfWork, reservation_id: UUID) -> list[models.ReservationLine]:
    query = select(models.ReservationLine).where(models.ReservationLine.reservation_id == reservation_id)
    return list((await uow.session.exec(query.order_by(models.ReservationLine.id))).all())


async def release_for_booking(uow: UnitOfWork, event: inbound.BookingCancelled) -> None:
    """A cancelled booking gives its reserved quantities back to their lots."""
    reservation = await _confirmed_reservation(uow, event.booking_id)
    if reservation is None:
        return  # nothing held: never reserved, failed, or released already
    lines = await reservation_lines(uow, reservation.id)
    lots = await _locked_lots(uow, ids=[line.lot_id for line in lines])
    for line in lines:
        lots[line.lot_id].reserved -= line.quantity
        uow.session.add(lots[line.lot_id])
    reservation.status = ReservationStatus.RELEASED
    reservation.updated_at, reservation.updated_by = models.now(), uow.actor or ""
    uow.session.add(reservation)
    uow.emit(
        events.ReservationReleased(
            booking_id=event.booking_id, reservation_id=reservation.id, facility_id=reservation.facility_id
        )
    )


async def consume_for_booking(uow: UnitOfWork, event: inbound.BookingCompleted) -> None:
    """The run took place: the reserved quantities leave the lots for good."""
    reservation = await _confirmed_reservation(uow, event.booking_id)
    if reservation is None:
        return
    lines = await reservation_lines(uow, reservation.id)
    lots = await _locked_lots(uow, ids=[line.lot_id for line in lines])
    reserved_lines = []
    for line in lines:
        lot = lots[line.lot_id]
        lot.reserved -= line.quantity
        lot.quantity -= line.quantity
        lot.version += 1
        lot.updated_at, lot.updated_by = models.now(), uow.actor or ""
        uow.session.add(lot)
        uow.emit(lot_recorded(lot, f"used by booking {event.booking_id}"))
        reserved_lines.append(_reserved_line(line, lot))
    reservation.status = ReservationStatus.CONSUMED
    reservation.updated_at, reservation.updated_by = models.now(), uow.actor or ""
    uow.session.add(reservation)
    uow.emit(
        events.ReservationConsumed(
            booking_id=event.booking_id,
            reservation_id=reservation.id,
            facility_id=reservation.facility_id,
            lines=reserved_lines,
        )
    )


async def list_reservations(uow: UnitOfWork, facility_id: UUID, status: str | None) -> list[models.Reservation]:
    query = select(models.Reservation).where(models.Reservation.facility_id == facility_id)
    if status:
        query = query.where(models.Reservation.status == status)
    newest_first = models.Reservation.updated_at.desc()  # type: ignore[attr-defined]
    return list((await uow.session.exec(query.order_by(newest_first))).all())


async def get_reservation(uow: UnitOfWork, booking_id: UUID) -> models.Reservation:
    reservation = (
        await uow.session.exec(select(models.Reservation).where(models.Reservation.booking_id == booking_id))
    ).first()
    if reservation is None:
        raise NotFound(f"Materials holds no reservation for booking {booking_id}.")
    return reservation


# --- expiry -------------------------------------------------------------------------------------


async def _holds_on(uow: UnitOfWork, lot_id: UUID) -> list[events.ExpiredLotHold]:
    """What confirmed reservations hold of a lot, by booking (the caller holds the lot's lock, so
    this adds up to the lot's `reserved`)."""
    query = (
        sa.select(
            models.Reservation.booking_id, models.Reservation.id, sa.func.sum(models.ReservationLine.quantity),
            models.ReservationLine.unit,
        )
        .join(models.Reservation, col(models.Reservation.id) == col(models.ReservationLine.reservation_id))
        .where(models.ReservationLine.lot_id == lot_id, models.Reservation.status == ReservationStatus.CONFIRMED)
        .group_by(models.Reservation.booking_id, models.Reservation.id, models.ReservationLine.unit)
        .order_by(models.Reservation.booking_id)
    )  # fmt: skip
    return [
        events.ExpiredLotHold(booking_id=booking_id, reservation_id=reservation_id, quantity=plain(quantity), unit=unit)
        for booking_id, reservation_id, quantity, unit in (await uow.session.execute(query)).all()
    ]


async def expire_due_lots(uow: UnitOfWork, on: date, batch: int = 100) -> list[UUID]:
    """Mark the lots past their expiry date on `on` as expired, each with its event. A row another
    replica (or a count, or the saga) has locked is skipped (SKIP LOCKED) for a later round, and a
    row marked meanwhile no longer matches once locked, so any number of replicas may run this side
    by side and each lot expires once. Nothing leaves the lot: what is reserved stays reserved for
    the runs that took it (they started by the expiry day), and the event names them."""
    due = await uow.session.exec(
        select(models.Lot)
        .where(col(models.Lot.expired_at).is_(None), col(models.Lot.expires_on) < on)
        .order_by(col(models.Lot.expires_on), col(models.Lot.id))
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    expired = []
    for lot in due.all():
        if not due_for_expiry(lot.expires_on, lot.expired_at, on):
            continue
        holds = await _holds_on(uow, lot.id)
        lot.expired_at = models.now()
        lot.version += 1
        lot.updated_at, lot.updated_by = lot.expired_at, uow.actor or ""
        uow.session.add(lot)
        uow.emit(lot_expired(lot, holds))
        expired.append(lot.id)
    return expired

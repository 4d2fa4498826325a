"""Facility inventory, the materials side of the reservation saga with scheduling, and lot expiry.
The caller commits (the API, the consumer, or the expiry job).

Concurrency lives in the repositories' SQL: reserving reads the candidate lots' stock under their
locks, so two bookings can never both take the same last millilitre, and the expiry job skips
lots someone else holds (see repository.py)."""

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date
from decimal import Decimal
from uuid import UUID

from services.materials import events, inbound, models
from services.materials.domain import (
    Allocation,
    Hold,
    LotStock,
    Need,
    ReservationStatus,
    Short,
    allocate,
    allocate_batches,
    check_new_quantity,
    check_quantity,
    due_for_expiry,
    normalise_unit,
    plain,
)
from services.materials.repository import MaterialsUnitOfWork
from shared.problems import Conflict, Unprocessable

# Raises Forbidden when the caller may not change this lot (it depends on the lot's facility).
LotCheck = Callable[[models.Lot], None]


def lot_recorded(lot: models.Lot, reason: str | None = None) -> events.LotRecorded:
    return events.LotRecorded.model_validate(lot.model_dump() | {"lot_id": lot.id, "reason": reason})


def lot_expired(lot: models.Lot, holds: list[Hold]) -> events.LotExpired:
    return events.LotExpired.model_validate(
        lot.model_dump() | {"lot_id": lot.id, "holds": [asdict(h) | {"quantity": plain(h.quantity)} for h in holds]}
    )


async def record_lot(
    uow: MaterialsUnitOfWork,
    facility_id: UUID,
    material_id: UUID,
    lot_number: str,
    expires_on: date,
    quantity: Decimal,
    unit: str,
) -> models.Lot:
    material = await uow.materials.find(material_id)
    if material is None:
        raise Unprocessable(f"No material {material_id} in the catalogue; register it first.")
    if material.retired:
        raise Conflict(f"Material {material_id} is retired; no new lots of it can be recorded.")
    lot_number = lot_number.strip()
    if taken := await uow.lots.numbered(facility_id, material_id, lot_number):
        raise Conflict(f"This facility recorded lot {lot_number} of this material already ({taken}).")
    lot = models.Lot(
        facility_id=facility_id, material_id=material_id, lot_number=lot_number, expires_on=expires_on,
        quantity=check_quantity(quantity), unit=normalise_unit(unit), created_by=uow.actor, updated_by=uow.actor,
    )  # fmt: skip
    uow.lots.add(lot)
    uow.emit(lot_recorded(lot))
    return lot


async def count_lot(
    uow: MaterialsUnitOfWork, lot_id: UUID, quantity: Decimal, reason: str, authorise: LotCheck
) -> models.Lot:
    """Correct a lot's counted quantity (stock-take, use, breakage), if `authorise` lets the caller."""
    lot = await uow.lots.get(lot_id, lock=True)
    authorise(lot)
    check_new_quantity(quantity, lot.reserved)
    if quantity == lot.quantity:
        return lot
    lot.quantity = quantity
    lot.version += 1
    lot.updated_at, lot.updated_by = models.now(), uow.actor
    uow.lots.add(lot)
    uow.emit(lot_recorded(lot, reason))
    return lot


# --- the saga -----------------------------------------------------------------------------------


def _needs(material_needs: list[inbound.MaterialNeed]) -> list[Need]:
    """A booking's needs in canonical units; an unknown unit stays as given and falls short."""
    needs = []
    for need in material_needs:
        try:
            unit = normalise_unit(need.unit)
        except Unprocessable:
            unit = need.unit
        needs.append(Need(need.material_id, need.quantity, unit))
    return needs


def _reserved_line(line: models.ReservationLine, lot: models.Lot) -> events.ReservedLine:
    return events.ReservedLine.model_validate(
        line.model_dump() | {"lot_number": lot.lot_number, "quantity": plain(line.quantity)}
    )


def _shortfall(short: Short) -> dict:
    """A shortfall as the reservation keeps it, for its answer now and when asked again."""
    amounts = {"requested": plain(short.requested), "available": plain(short.available)}
    return events.Shortfall.model_validate(asdict(short) | amounts).model_dump(mode="json")


async def reserve_for_booking(uow: MaterialsUnitOfWork, event: inbound.BookingConfirmed) -> None:
    """All or nothing from the facility's lots, earliest expiry first; one reservation per booking."""
    booking = event.booking
    reservation = await uow.reservations.of_booking(event.booking_id)
    if reservation is not None and (
        reservation.status != ReservationStatus.FAILED or booking.version <= reservation.booking_version
    ):
        # Handled already: scheduling asks again when an answer went missing (its saga deadline),
        # so send the answer given then once more. Released or consumed: the booking has moved on.
        await _answer_again(uow, reservation)
        return
    needs = _needs(booking.material_needs)
    use_on = max(models.today(), booking.starts_at.astimezone(UTC).date())  # no lot that expires before the run
    lots = await uow.lots.locked_reservable(booking.facility_id, sorted({n.material_id for n in needs}), use_on)
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
        reservation.status = ReservationStatus.FAILED
        reservation.shortfalls = [_shortfall(s) for s in allocation.shortfalls]
        await uow.reservations.add(reservation)
        uow.emit(
            events.ReservationFailed(
                booking_id=event.booking_id, facility_id=booking.facility_id, shortfalls=reservation.shortfalls
            )
        )
        return
    reservation.status = ReservationStatus.CONFIRMED
    reservation.shortfalls = []
    lines = await _reserve_lots(uow, reservation, allocation, lots)
    uow.emit(
        events.ReservationConfirmed(
            booking_id=event.booking_id, reservation_id=reservation.id, facility_id=booking.facility_id,
            lines=[_reserved_line(line, lots[line.lot_id]) for line in lines],
        )
    )  # fmt: skip


async def _reserve_lots(
    uow: MaterialsUnitOfWork, reservation: models.Reservation, allocation: Allocation, lots: dict[UUID, models.Lot]
) -> list[models.ReservationLine]:
    """Take the allocation's quantities from the locked lots and store the reservation with its lines."""
    lines = []
    for take in allocation.takes:
        lot = lots[take.lot.lot_id]
        lot.reserved += take.quantity
        uow.lots.add(lot)
        lines.append(models.ReservationLine(
            reservation_id=reservation.id, lot_id=lot.id, material_id=lot.material_id, quantity=take.quantity,
            unit=lot.unit,
        ))  # fmt: skip
    await uow.reservations.add(reservation, lines)
    return lines


async def _answer_again(uow: MaterialsUnitOfWork, reservation: models.Reservation) -> None:
    """The stored outcome as a new event (a new id, caused by the repeated request)."""
    if reservation.status == ReservationStatus.FAILED:
        uow.emit(events.ReservationFailed.model_validate(reservation, from_attributes=True))
    elif reservation.status == ReservationStatus.CONFIRMED:
        uow.emit(
            events.ReservationConfirmed(
                booking_id=reservation.booking_id, reservation_id=reservation.id, facility_id=reservation.facility_id,
                lines=await _reserved_lines(uow, reservation),
            )
        )  # fmt: skip


async def _reserved_lines(uow: MaterialsUnitOfWork, reservation: models.Reservation) -> list[events.ReservedLine]:
    """A confirmed reservation's lines as its first answer gave them: in allocation order."""
    lines = await uow.reservations.lines(reservation.id)
    lots = await uow.lots.locked([line.lot_id for line in lines])
    in_allocation_order = sorted(lines, key=lambda line: (lots[line.lot_id].expires_on, lots[line.lot_id].lot_number))
    return [_reserved_line(line, lots[line.lot_id]) for line in in_allocation_order]


# --- a campaign's batches, all or nothing ----------------------------------------------------------


async def reserve_for_campaign(uow: MaterialsUnitOfWork, event: inbound.CampaignConfirmed) -> None:
    """Every batch's needs in this one transaction, or none: each batch gets its booking's
    reservation, all confirmed, or all failed with each batch's shortfalls; one answer for the
    campaign. Asked again for the same confirmation (the saga's deadline), the answer given is sent
    again; a later confirmation after a failure (the campaign's `version` is higher) is tried afresh."""
    campaign = event.campaign
    if not event.reserve:
        return  # scheduling asks for open batches only; nothing to answer for none
    held = await uow.reservations.of_bookings([b.booking_id for b in event.reserve])
    by_start = sorted(event.reserve, key=lambda b: (b.starts_at, b.booking_id))  # the earliest run first
    given = [r for b in by_start if (r := held[b.booking_id]) is not None]  # an answer again, in the same order
    if (
        given
        and len(given) == len(held)
        and (any(r.status != ReservationStatus.FAILED for r in given) or campaign.version <= given[0].booking_version)
    ):
        await _answer_campaign_again(uow, event.campaign_id, campaign.facility_id, given)
        return
    if any(r.status != ReservationStatus.FAILED for r in given):
        # Some batches hold (or held) lots and others none: scheduling never asks so. Trying again
        # would reserve a batch twice; refused, the event is retried and then dead-lettered.
        raise Conflict(f"Campaign {event.campaign_id} asks to reserve batches of which only some have reservations.")
    today = models.today()
    batches = [
        (b.booking_id, _needs(b.material_needs), max(today, b.starts_at.astimezone(UTC).date())) for b in by_start
    ]
    material_ids = sorted({n.material_id for _, needs, _ in batches for n in needs})
    first_use = min(use_on for _, _, use_on in batches)
    lots = await uow.lots.locked_reservable(campaign.facility_id, material_ids, first_use)
    stock = [
        LotStock(lot.id, lot.material_id, lot.lot_number, lot.expires_on, lot.quantity - lot.reserved, lot.unit)
        for lot in lots.values()
    ]
    allocations = allocate_batches(batches, stock)
    complete = all(a.complete for a in allocations.values())
    reserved, short = [], []
    for booking_id, _, _ in batches:
        reservation = held[booking_id] or models.Reservation(
            booking_id=booking_id, booking_version=campaign.version, facility_id=campaign.facility_id,
            status=ReservationStatus.FAILED, updated_by=uow.actor or "",
        )  # fmt: skip
        reservation.booking_version = campaign.version
        reservation.updated_at, reservation.updated_by = models.now(), uow.actor or ""
        allocation = allocations[booking_id]
        if not complete:
            reservation.status = ReservationStatus.FAILED
            reservation.shortfalls = [_shortfall(s) for s in allocation.shortfalls]
            await uow.reservations.add(reservation)
            short.append(events.BatchShortfalls(booking_id=booking_id, shortfalls=reservation.shortfalls))
            continue
        reservation.status, reservation.shortfalls = ReservationStatus.CONFIRMED, []
        lines = await _reserve_lots(uow, reservation, allocation, lots)
        reserved.append(events.BatchReservation(
            booking_id=booking_id, reservation_id=reservation.id,
            lines=[_reserved_line(line, lots[line.lot_id]) for line in lines],
        ))  # fmt: skip
    if complete:
        uow.emit(events.CampaignReservationConfirmed(
            campaign_id=event.campaign_id, facility_id=campaign.facility_id, batches=reserved
        ))  # fmt: skip
    else:
        uow.emit(events.CampaignReservationFailed(
            campaign_id=event.campaign_id, facility_id=campaign.facility_id, batches=short
        ))  # fmt: skip


async def _answer_campaign_again(
    uow: MaterialsUnitOfWork, campaign_id: UUID, facility_id: UUID, given: list[models.Reservation]
) -> None:
    """The stored outcome for the whole campaign, as a new event."""
    if any(r.status == ReservationStatus.FAILED for r in given):
        short = [events.BatchShortfalls(booking_id=r.booking_id, shortfalls=r.shortfalls) for r in given]
        uow.emit(events.CampaignReservationFailed(campaign_id=campaign_id, facility_id=facility_id, batches=short))
        return
    reserved = [
        events.BatchReservation(booking_id=r.booking_id, reservation_id=r.id, lines=await _reserved_lines(uow, r))
        for r in given
    ]
    uow.emit(events.CampaignReservationConfirmed(campaign_id=campaign_id, facility_id=facility_id, batches=reserved))


async def release_for_campaign(uow: MaterialsUnitOfWork, event: inbound.CampaignCancelled) -> None:
    """A cancelled campaign's batches give back what they hold (those released already, nothing)."""
    for booking_id in sorted(b.booking_id for b in event.campaign.batches):
        await _release(uow, booking_id)


async def _confirmed_reservation(uow: MaterialsUnitOfWork, booking_id: UUID) -> models.Reservation | None:
    reservation = await uow.reservations.of_booking(booking_id)
    return reservation if reservation is not None and reservation.status == ReservationStatus.CONFIRMED else None


async def release_for_booking(uow: MaterialsUnitOfWork, event: inbound.BookingCancelled) -> None:
    """A cancelled booking gives its reserved quantities back to their lots."""
    await _release(uow, event.booking_id)


async def _release(uow: MaterialsUnitOfWork, booking_id: UUID) -> None:
    reservation = await _confirmed_reservation(uow, booking_id)
    if reservation is None:
        return  # nothing held: never reserved, failed, or released already
    lines = await uow.reservations.lines(reservation.id)
    lots = await uow.lots.locked([line.lot_id for line in lines])
    for line in lines:
        lots[line.lot_id].reserved -= line.quantity
        uow.lots.add(lots[line.lot_id])
    reservation.status = ReservationStatus.RELEASED
    reservation.updated_at, reservation.updated_by = models.now(), uow.actor or ""
    await uow.reservations.add(reservation)
    uow.emit(
        events.ReservationReleased(
            booking_id=booking_id, reservation_id=reservation.id, facility_id=reservation.facility_id
        )
    )


async def consume_for_booking(uow: MaterialsUnitOfWork, event: inbound.BookingCompleted) -> None:
    """The run took place: the reserved quantities leave the lots for good."""
    reservation = await _confirmed_reservation(uow, event.booking_id)
    if reservation is None:
        return
    lines = await uow.reservations.lines(reservation.id)
    lots = await uow.lots.locked([line.lot_id for line in lines])
    reserved_lines = []
    for line in lines:
        lot = lots[line.lot_id]
        lot.reserved -= line.quantity
        lot.quantity -= line.quantity
        lot.version += 1
        lot.updated_at, lot.updated_by = models.now(), uow.actor or ""
        uow.lots.add(lot)
        uow.emit(lot_recorded(lot, f"used by booking {event.booking_id}"))
        reserved_lines.append(_reserved_line(line, lot))
    reservation.status = ReservationStatus.CONSUMED
    reservation.updated_at, reservation.updated_by = models.now(), uow.actor or ""
    await uow.reservations.add(reservation)
    uow.emit(
        events.ReservationConsumed(
            booking_id=event.booking_id,
            reservation_id=reservation.id,
            facility_id=reservation.facility_id,
            lines=reserved_lines,
        )
    )


# --- expiry -------------------------------------------------------------------------------------


async def expire_due_lots(uow: MaterialsUnitOfWork, on: date, batch: int) -> list[UUID]:
    """Mark up to `batch` lots past their expiry date on `on` as expired, each with its event. Lots others
    hold locked wait for a later round, so any number of replicas may run this side by side and
    each lot expires once. Nothing leaves the lot: what is reserved stays reserved for the runs
    that took it (they started by the expiry day), and the event names them."""
    expired = []
    for lot in await uow.lots.due_for_expiry(on, batch):
        if not due_for_expiry(lot.expires_on, lot.expired_at, on):
            continue
        holds = await uow.reservations.holds_on(lot.id)
        lot.expired_at = models.now()
        lot.version += 1
        lot.updated_at, lot.updated_by = lot.expired_at, uow.actor or ""
        uow.lots.add(lot)
        uow.emit(lot_expired(lot, holds))
        expired.append(lot.id)
    return expired

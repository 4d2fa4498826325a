"""Booking use cases and the materials saga's outcomes: load, apply the rules, save, emit events.
The caller commits (the API for requests, the shared consumer for events, the jobs for expiry and
the saga's deadline).

While materials answers a confirmation, the hold no longer expires (`hold_expires_at` is cleared):
the developer has committed, and the saga decides. The saga has a deadline: a request materials has
not answered within `saga_retry_seconds` is sent again, and after `saga_max_attempts` unanswered
requests the booking is escalated (`materials_overdue_since`, an event, a metric) and asked on, so
nothing waits unseen. A `materials_short` booking gets a fresh hold time: the developer may confirm
again (after restocking) or cancel, else its slots are freed."""

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from sqlmodel import col, select

from services.scheduling import events, inbound, models, waitlist
from services.scheduling.bookings import (
    approval_facts,
    booking_state,
    facility_is_bookable,
    lock_slots,
    new_booking,
    release_slots,
    risks_of,
    set_slots,
    touch,
)
from services.scheduling.domain import (
    Booking,
    BookingChange,
    BookingChanges,
    BookingStatus,
    RunKind,
    SlotStatus,
    check_clinical_approval,
)
from shared.auth import Principal, Role
from shared.database import UnitOfWork, get_or_404
from shared.errors import Conflict, NotFound, Unprocessable


async def hold(
    uow: UnitOfWork,
    *,
    org_id: str,
    slot_ids: Sequence[UUID],
    product: str,
    run_kind: RunKind,
    approval_id: UUID | None,
    material_needs: list[dict],
    hold_ttl_seconds: int,
) -> models.Booking:
    """Hold slots of one suite. Slots are locked (in id order, without waiting) and re-checked under
    the lock, so of any number of racing requests exactly one holds a slot and the others get a 409."""
    if len(set(slot_ids)) != len(slot_ids):
        raise Unprocessable("The same slot is listed twice.")
    slots = await lock_slots(uow, slot_ids, nowait=True)
    missing = set(slot_ids) - {s.id for s in slots}
    if missing:
        raise NotFound(f"No slots {', '.join(sorted(str(m) for m in missing))}.")
    if len({s.suite_id for s in slots}) != 1:
        raise Unprocessable("A booking holds slots of one suite only.")
    taken = [s for s in slots if s.status != SlotStatus.OPEN]
    if taken:
        raise Conflict(f"Slot {taken[0].id} is {taken[0].status}, not open.", slot_id=str(taken[0].id))
    now = models.now()
    suite = await uow.session.get(models.SuiteView, slots[0].suite_id)
    if suite is None or suite.retired:
        raise Conflict("The suite of these slots is retired; its slots cannot be booked.")
    if not await facility_is_bookable(uow, slots[0].facility_id, now.date()):
        raise Conflict(f"Facility {slots[0].facility_id} holds no valid GMP certificate; its slots cannot be booked.")
    approval = await approval_facts(uow, approval_id)
    check_clinical_approval(run_kind, approval, approval_id, org_id, slots[0].facility_id)
    booking = new_booking(
        slots=slots,
        org_id=org_id,
        product=product,
        run_kind=run_kind.value,
        approval_id=approval_id,
        material_needs=material_needs,
        hold_expires_at=now + timedelta(seconds=hold_ttl_seconds),
        actor=uow.actor,
    )
    held = await set_slots(uow, slot_ids, SlotStatus.HELD, booking.id, only_from=(SlotStatus.OPEN,))
    if len(held) != len(slot_ids):  # cannot happen under the lock; the guard keeps it so
        raise Conflict("A slot was taken concurrently.")
    booking.at_risk_reasons = await risks_of(uow, booking, now.date())
    uow.session.add(booking)
    uow.emit(
        events.BookingHeld(
            booking_id=booking.id, booking=booking_state(booking), hold_expires_at=booking.hold_expires_at
        )
    )
    return booking


async def load(uow: UnitOfWork, booking_id: UUID, *, lock: bool = False) -> models.Booking:
    return await get_or_404(uow.session, models.Booking, booking_id, "booking", lock=lock)


def may_read(principal: Principal, b: models.Booking) -> bool:
    return (
        principal.is_admin
        or (principal.role is Role.DEVELOPER and principal.org_id == b.org_id)
        or (principal.role is Role.FACILITY and str(b.facility_id) in principal.facility_ids)
    )


async def visible(uow: UnitOfWork, principal: Principal, booking_id: UUID, *, lock: bool = False) -> models.Booking:
    booking = await load(uow, booking_id, lock=lock)
    if not may_read(principal, booking):
        raise NotFound(f"No booking {booking_id}.")  # do not reveal others' bookings
    return booking


async def confirm(uow: UnitOfWork, principal: Principal, booking_id: UUID) -> models.Booking:
    row = await visible(uow, principal, booking_id, lock=True)
    principal.require_org(row.org_id)
    booking, now = to_domain(row), models.now()
    changes = booking.confirm(now)
    if changes:  # the facility and the approval must still allow the run (scheduling's read models)
        if not await facility_is_bookable(uow, row.facility_id, now.date()):
            raise Conflict(
                f"Facility {row.facility_id} holds no valid GMP certificate now; the run cannot be confirmed."
            )
        approval = await approval_facts(uow, row.approval_id)
        check_clinical_approval(RunKind(row.run_kind), approval, row.approval_id, row.org_id, row.facility_id)
    await save(uow, row, changes)
    return row


async def on_reservation_confirmed(uow: UnitOfWork, event: inbound.ReservationConfirmed) -> None:
    row = await uow.session.get(models.Booking, event.booking_id, with_for_update=True)
    if row is not None:  # a late answer to a cancelled or settled booking changes nothing
        await save(uow, row, to_domain(row).materials_reserved())


async def on_reservation_failed(uow: UnitOfWork, event: inbound.ReservationFailed, *, hold_ttl_seconds: int) -> None:
    row = await uow.session.get(models.Booking, event.booking_id, with_for_update=True)
    if row is not None:
        shortfalls = [s.model_dump(mode="json") for s in event.shortfalls]
        await save(uow, row, to_domain(row).materials_short(shortfalls, models.now(), hold_ttl_seconds))


async def cancel(
    uow: UnitOfWork, principal: Principal, booking_id: UUID, reason: str | None, hold_ttl_seconds: int
) -> models.Booking:
    row = await visible(uow, principal, booking_id, lock=True)
    by_developer = principal.role is Role.DEVELOPER
    if by_developer:
        principal.require_org(row.org_id)
    await save(uow, row, to_domain(row).cancel(reason, by_developer=by_developer))
    freed = await release_slots(uow, row)
    await waitlist.offer_opened_slots(uow, freed, hold_ttl_seconds)
    return row


async def complete(uow: UnitOfWork, principal: Principal, booking_id: UUID) -> models.Booking:
    row = await visible(uow, principal, booking_id, lock=True)
    if principal.role is not Role.ADMIN:
        principal.require_facility(str(row.facility_id))
    await save(uow, row, to_domain(row).complete(models.now()))
    return row


async def expire_overdue_holds(uow: UnitOfWork, hold_ttl_seconds: int, batch: int = 100) -> list[UUID]:
    """Expire holds past their time and free their slots. Rows another replica is expiring are
    skipped (SKIP LOCKED), so any number of replicas may run this side by side."""
    now = models.now()
    overdue = await uow.session.exec(
        select(models.Booking)
        .where(
            col(models.Booking.hold_expires_at) <= now,
            col(models.Booking.status).in_([BookingStatus.HELD.value, BookingStatus.MATERIALS_SHORT.value]),
        )
        .order_by(col(models.Booking.hold_expires_at))
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    expired = []
    for row in overdue:
        await save(uow, row, to_domain(row).expire(now))
        freed = await release_slots(uow, row)
        await waitlist.offer_opened_slots(uow, freed, hold_ttl_seconds)
        expired.append(row.id)
    return expired


async def ask_materials_again(uow: UnitOfWork, retry_seconds: float, max_attempts: int, batch: int = 100) -> list[UUID]:
    """The saga's deadline: send the reservation request again for every booking materials has not
    answered within `retry_seconds`; one that went unanswered `max_attempts` times is escalated
    first, once. Rows another replica holds are skipped (SKIP LOCKED), so replicas share the work."""
    now = models.now()
    due = await uow.session.exec(
        select(models.Booking)
        .where(
            col(models.Booking.materials_requested_at).is_not(None),
            col(models.Booking.status).in_([BookingStatus.HELD.value, BookingStatus.MATERIALS_SHORT.value]),
            col(models.Booking.materials_asked_at) <= now - timedelta(seconds=retry_seconds),
        )
        .order_by(col(models.Booking.materials_asked_at))
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    asked = []
    for row in due:
        await save(uow, row, to_domain(row).ask_materials_again(now, retry_seconds, max_attempts))
        asked.append(row.id)
    return asked


# --- the aggregate and its row ------------------------------------------------------------------

# What the Booking aggregate changes; the rest of the row (slots, product, needs) it only reads.
_AGGREGATE_STATE = (
    "hold_expires_at", "materials_requested_at", "materials_asked_at", "materials_attempts",
    "materials_overdue_since", "shortfalls", "at_risk_reasons", "cancel_reason",
)  # fmt: skip


def to_domain(row: models.Booking) -> Booking:
    return Booking(
        id=row.id, status=BookingStatus(row.status), org_id=row.org_id, starts_at=row.starts_at,
        needs_materials=bool(row.material_needs), **{name: getattr(row, name) for name in _AGGREGATE_STATE},
    )  # fmt: skip


async def save(uow: UnitOfWork, row: models.Booking, changes: BookingChanges) -> None:
    """Write each change's state to the row, in order, and emit its event. Every change is a new,
    attributed version, except asking materials again: the same confirmation, so materials knows
    the request and sends the answer it stored. Reserved materials book the held slots."""
    for state, change in changes:
        row.status = state.status.value
        for name in _AGGREGATE_STATE:
            setattr(row, name, getattr(state, name))
        if change is not BookingChange.MATERIALS_REQUESTED_AGAIN:
            touch(row, uow.actor)
        if change is BookingChange.MATERIALS_RESERVED:
            await set_slots(uow, row.slot_ids, SlotStatus.BOOKED, row.id, only_from=(SlotStatus.HELD,))
        uow.emit(_event(change, row))
    uow.session.add(row)


def _event(change: BookingChange, row: models.Booking) -> events.Event:
    state = booking_state(row)
    match change:
        case BookingChange.CONFIRMED | BookingChange.MATERIALS_REQUESTED_AGAIN:
            return events.BookingConfirmed(booking_id=row.id, booking=state, attempt=row.materials_attempts)
        case BookingChange.ESCALATED:
            return events.BookingEscalated(
                booking_id=row.id, booking=state, attempts=row.materials_attempts,
                awaiting_since=row.materials_requested_at,
            )  # fmt: skip
        case BookingChange.CANCELLED:
            return events.BookingCancelled(booking_id=row.id, booking=state, reason=row.cancel_reason)
    announced = {
        BookingChange.MATERIALS_RESERVED: events.BookingMaterialsReserved,
        BookingChange.MATERIALS_SHORT: events.BookingMaterialsShort,
        BookingChange.COMPLETED: events.BookingCompleted,
        BookingChange.EXPIRED: events.BookingExpired,
    }
    return announced[change](booking_id=row.id, booking=state)

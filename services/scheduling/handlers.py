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
    OPEN_BOOKING_STATUSES,
    BookingStatus,
    RunKind,
    SlotStatus,
    awaiting_materials,
    check_clinical_approval,
    materials_overdue,
    check_run_started,
    hold_expired,
    require_status,
)
from shared.auth import Principal, Role
from shared.database import UnitOfWork
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
        events.BookingHeld(booking_id=booking.id, booking=booking_state(booking), hold_expires_at=booking.hold_expires_at)
    )
    return booking


async def load(uow: UnitOfWork, booking_id: UUID, *, lock: bool = False) -> models.Booking:
    booking = await uow.session.get(models.Booking, booking_id, with_for_update=lock)
    if booking is None:
        raise NotFound(f"No booking {booking_id}.")
    return booking


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
    booking = await visible(uow, principal, booking_id, lock=True)
    principal.require_org(booking.org_id)
    require_status(booking.id, booking.status, (BookingStatus.HELD, BookingStatus.MATERIALS_SHORT), "confirmed")
    if booking.materials_requested_at is not None:
        return booking  # already confirmed, awaiting materials: a repeat changes nothing
    now = models.now()
    if hold_expired(booking.hold_expires_at, now):
        raise Conflict(f"The hold on booking {booking.id} expired at {booking.hold_expires_at.isoformat()}.")
    if not await facility_is_bookable(uow, booking.facility_id, now.date()):
        raise Conflict(f"Facility {booking.facility_id} holds no valid GMP certificate now; the run cannot be confirmed.")
    approval = await approval_facts(uow, booking.approval_id)
    check_clinical_approval(RunKind(booking.run_kind), approval, booking.approval_id, booking.org_id, booking.facility_id)
    booking.materials_requested_at, booking.hold_expires_at, booking.shortfalls = now, None, []
    booking.materials_asked_at, booking.materials_attempts, booking.materials_overdue_since = now, 1, None
    touch(booking, uow.actor)
    uow.emit(events.BookingConfirmed(booking_id=booking.id, booking=booking_state(booking)))
    if not booking.material_needs:  # nothing to reserve: the saga has nothing to wait for
        await _materials_reserved(uow, booking)
    uow.session.add(booking)
    return booking


def _materials_answered(booking: models.Booking) -> None:
    """The saga step is over: no deadline runs, and no escalation stands."""
    booking.materials_asked_at, booking.materials_overdue_since = None, None


async def _materials_reserved(uow: UnitOfWork, booking: models.Booking) -> None:
    booking.status, booking.hold_expires_at = BookingStatus.CONFIRMED.value, None
    _materials_answered(booking)
    await set_slots(uow, booking.slot_ids, SlotStatus.BOOKED, booking.id, only_from=(SlotStatus.HELD,))
    touch(booking, uow.actor)
    uow.emit(events.BookingMaterialsReserved(booking_id=booking.id, booking=booking_state(booking)))


def _awaiting_materials(booking: models.Booking | None) -> bool:
    return booking is not None and awaiting_materials(booking.status, booking.materials_requested_at)


async def on_reservation_confirmed(uow: UnitOfWork, event: inbound.ReservationConfirmed) -> None:
    booking = await uow.session.get(models.Booking, event.booking_id, with_for_update=True)
    if not _awaiting_materials(booking):
        return  # cancelled meanwhile (materials releases on BookingCancelled), or already settled
    await _materials_reserved(uow, booking)
    uow.session.add(booking)


async def on_reservation_failed(uow: UnitOfWork, event: inbound.ReservationFailed) -> None:
    booking = await uow.session.get(models.Booking, event.booking_id, with_for_update=True)
    if not _awaiting_materials(booking):
        return
    booking.status = BookingStatus.MATERIALS_SHORT.value
    booking.shortfalls = [s.model_dump(mode="json") for s in event.shortfalls]
    booking.materials_requested_at = None
    _materials_answered(booking)
    booking.hold_expires_at = models.now() + timedelta(seconds=_hold_ttl(uow))
    touch(booking, uow.actor)
    uow.session.add(booking)
    uow.emit(events.BookingMaterialsShort(booking_id=booking.id, booking=booking_state(booking)))


def _hold_ttl(uow: UnitOfWork) -> int:
    from shared.settings import get_settings  # consumers get no context; the process settings hold the TTL

    return get_settings().hold_ttl_seconds


def _close(booking: models.Booking, status: BookingStatus) -> None:
    """End a booking: no hold runs on, and at-risk flags (about a run still to come) no longer apply."""
    booking.status, booking.hold_expires_at, booking.at_risk_reasons = status.value, None, []
    _materials_answered(booking)


async def cancel(
    uow: UnitOfWork, principal: Principal, booking_id: UUID, reason: str | None, hold_ttl_seconds: int
) -> models.Booking:
    booking = await visible(uow, principal, booking_id, lock=True)
    if principal.role is Role.DEVELOPER:
        principal.require_org(booking.org_id)
    elif not reason or not reason.strip():
        raise Unprocessable("A cancellation by the facility (or the hub operator) needs a reason.")
    require_status(booking.id, booking.status, OPEN_BOOKING_STATUSES, "cancelled")
    _close(booking, BookingStatus.CANCELLED)
    booking.cancel_reason = reason
    freed = await release_slots(uow, booking)
    touch(booking, uow.actor)
    uow.session.add(booking)
    uow.emit(events.BookingCancelled(booking_id=booking.id, booking=booking_state(booking), reason=reason))
    await waitlist.offer_opened_slots(uow, freed, hold_ttl_seconds)
    return booking


async def complete(uow: UnitOfWork, principal: Principal, booking_id: UUID) -> models.Booking:
    booking = await visible(uow, principal, booking_id, lock=True)
    if principal.role is not Role.ADMIN:
        principal.require_facility(str(booking.facility_id))
    require_status(booking.id, booking.status, (BookingStatus.CONFIRMED,), "completed")
    check_run_started(booking.starts_at, models.now())
    _close(booking, BookingStatus.COMPLETED)
    touch(booking, uow.actor)
    uow.session.add(booking)
    uow.emit(events.BookingCompleted(booking_id=booking.id, booking=booking_state(booking)))
    return booking


async def expire_overdue_holds(uow: UnitOfWork, hold_ttl_seconds: int, batch: int = 100) -> list[UUID]:
    """Expire holds past their time and free their slots. Rows another replica is expiring are
    skipped (SKIP LOCKED), so any number of replicas may run this side by side."""
    overdue = await uow.session.exec(
        select(models.Booking)
        .where(
            col(models.Booking.hold_expires_at) <= models.now(),
            col(models.Booking.status).in_([BookingStatus.HELD.value, BookingStatus.MATERIALS_SHORT.value]),
        )
        .order_by(col(models.Booking.hold_expires_at))
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    expired = []
    for booking in overdue:
        _close(booking, BookingStatus.EXPIRED)
        freed = await release_slots(uow, booking)
        touch(booking, uow.actor)
        uow.session.add(booking)
        uow.emit(events.BookingExpired(booking_id=booking.id, booking=booking_state(booking)))
        await waitlist.offer_opened_slots(uow, freed, hold_ttl_seconds)
        expired.append(booking.id)
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
    for booking in due:
        if materials_overdue(booking.materials_attempts, max_attempts, booking.materials_overdue_since):
            booking.materials_overdue_since = now
            touch(booking, uow.actor)
            uow.emit(
                events.BookingEscalated(
                    booking_id=booking.id,
                    booking=booking_state(booking),
                    attempts=booking.materials_attempts,
                    awaiting_since=booking.materials_requested_at,
                )
            )
        booking.materials_attempts += 1
        booking.materials_asked_at = now
        uow.session.add(booking)
        uow.emit(
            events.BookingConfirmed(
                booking_id=booking.id, booking=booking_state(booking), attempt=booking.materials_attempts
            )
        )
        asked.append(booking.id)
    return asked

"""Booking use cases and the materials saga's outcomes: load, apply the rules, save, emit events.
The caller commits (the API for requests, the shared consumer for events, the jobs for expiry and
the saga's deadline).

While materials answers a confirmation, the hold no longer expires (`hold_expires_at` is cleared):
the developer has committed, and the saga decides. The saga has a deadline: a request materials has
not answered within `saga_retry_seconds` is sent again, and after `saga_max_attempts` unanswered
requests the booking is escalated (`materials_overdue_since`, an event, a metric) and asked on, so
nothing waits unseen. A `materials_short` booking gets a fresh hold time: the developer may confirm
again (after restocking) or cancel, else its slots are freed."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn
from uuid import UUID, uuid4

from services.scheduling import agreements, events, inbound, models, waitlist
from services.scheduling.domain import (
    Booking,
    BookingChange,
    BookingChanges,
    BookingStatus,
    Period,
    RiskFacts,
    RunKind,
    SlotFacts,
    SlotStatus,
    at_risk_reasons,
    certified,
    check_clinical_approval,
)
from services.scheduling.replicas import needed_materials
from services.scheduling.repository import SchedulingUnitOfWork
from services.scheduling.schemas import BookingIn, BookingOut
from shared.auth import Principal, Role
from shared.problems import Conflict, NotFound, Unprocessable


@dataclass(frozen=True)
class Held:
    """The answer to a hold: the booking as the API shows it, and whether it is the answer given
    before under the same `Idempotency-Key`."""

    answer: dict[str, Any]
    replayed: bool = False


async def hold(
    uow: SchedulingUnitOfWork,
    org_id: str,
    request: BookingIn,
    *,
    hold_ttl_seconds: int,
    idempotency_key: str | None = None,
) -> Held:
    """Hold slots of one suite for a developer organisation. With an `Idempotency-Key`, the first
    successful answer is stored with the key (per organisation) in the same transaction as the hold;
    a retry with the key, from any token of that organisation, gets that answer and changes nothing.
    Failed requests store nothing, so a retry after a 409 is tried afresh."""
    scope = f"org:{org_id}"  # the booking is the org's, whichever of its users (or tokens) retries
    if idempotency_key:
        request_hash = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
        given = await uow.idempotency_keys.claim(scope, idempotency_key, request_hash)
        if given is not None:
            if given.request_hash != request_hash:
                raise Unprocessable(
                    f"Idempotency-Key {idempotency_key!r} was already used with a different request body."
                )
            return Held(given.response, replayed=True)
    booking = await _hold(uow, org_id, request, hold_ttl_seconds)
    answer = BookingOut.of(booking).model_dump(mode="json")  # the very body a replay gives
    if idempotency_key:
        await uow.idempotency_keys.remember(scope, idempotency_key, answer, booking.id)
    return Held(answer)


async def _hold(uow: SchedulingUnitOfWork, org_id: str, request: BookingIn, hold_ttl_seconds: int) -> models.Booking:
    """Slots are locked (in id order, without waiting) and held in one statement, so of any number of
    racing requests exactly one holds a slot and the others get a 409. The statement brings the
    suite's and the facility's facts with the slots, and a refusal below rolls the hold back: the
    hold asks the replicas only about its approval and materials, if it has any."""
    slot_ids = request.slot_ids
    if len(set(slot_ids)) != len(slot_ids):
        raise Unprocessable("The same slot is listed twice.")
    booking_id = uuid4()
    slots = await uow.slots.take(slot_ids, booking_id)
    if len(slots) != len(slot_ids):
        _refuse_untaken(await uow.slots.claim(slot_ids), slot_ids, {s.id for s in slots})
    if len({s.suite_id for s in slots}) != 1:
        raise Unprocessable("A booking holds slots of one suite only.")
    now, site = models.now(), slots[0]
    if site.suite_retired is not False:  # retired, or a suite scheduling does not know
        raise Conflict("The suite of these slots is retired; its slots cannot be booked.")
    if not certified(site.certificates, now.date()):
        raise Conflict(f"Facility {site.facility_id} holds no valid GMP certificate; its slots cannot be booked.")
    approval = await uow.replicas.approval(request.approval_id)
    check_clinical_approval(request.run_kind, approval, request.approval_id, org_id, site.facility_id)
    booking = models.Booking.new_hold(
        slots,
        booking_id=booking_id,
        org_id=org_id,
        product=request.product,
        run_kind=request.run_kind.value,
        approval_id=request.approval_id,
        material_needs=[n.model_dump(mode="json") for n in request.material_needs],
        hold_expires_at=now + timedelta(seconds=hold_ttl_seconds),
        actor=uow.actor,
    )
    needed = needed_materials(booking)
    facts = RiskFacts(site.certificates, site.country, await uow.replicas.active_shortages(needed), approval)
    booking.at_risk_reasons = at_risk_reasons(facts, needed, now.date())
    uow.bookings.add_with_events(booking)
    uow.emit(
        events.BookingHeld(booking_id=booking.id, booking=state_of(booking), hold_expires_at=booking.hold_expires_at)
    )
    return booking


def _refuse_untaken(slots: Sequence[SlotFacts], asked: Sequence[UUID], took: set[UUID]) -> NoReturn:
    """Why a hold took fewer slots than it asked for: the slots as they are, locked (those it took
    now held by it, until the refusal rolls them back)."""
    missing = set(asked) - {s.id for s in slots}
    if missing:
        raise NotFound(f"No slots {', '.join(sorted(str(m) for m in missing))}.")
    if len({s.suite_id for s in slots}) != 1:
        raise Unprocessable("A booking holds slots of one suite only.")
    taken = next(s for s in slots if s.id not in took)
    raise Conflict(f"Slot {taken.id} is {taken.status}, not open.", slot_id=str(taken.id))


def may_read(principal: Principal, b: models.Booking) -> bool:
    return (
        principal.is_admin
        or (principal.role is Role.DEVELOPER and principal.org_id == b.org_id)
        or (principal.role is Role.FACILITY and str(b.facility_id) in principal.facility_ids)
    )


def may_inspect(principal: Principal, b: models.Booking) -> bool:
    """Reading only: a regulator also reads any facility's bookings and their histories (inspection),
    as it reads any facility's lots in materials; acting on a booking stays with `may_read`'s callers."""
    return may_read(principal, b) or principal.role is Role.REGULATOR


async def _visible(uow: SchedulingUnitOfWork, principal: Principal, booking_id: UUID) -> models.Booking:
    """The booking, locked, if the principal may read it."""
    row = await uow.bookings.get(booking_id, lock=True)
    if row is None or not may_read(principal, row):
        raise NotFound(f"No booking {booking_id}.")  # do not reveal others' bookings
    if row.campaign_id is not None:  # confirmed and reserved with its campaign, never alone
        raise Conflict(f"Booking {booking_id} is a batch of campaign {row.campaign_id}: act on it under "
                       f"/v1/campaigns/{row.campaign_id} (confirm the campaign; cancel, move or complete the batch).")  # fmt: skip
    return row


async def confirm(uow: SchedulingUnitOfWork, principal: Principal, booking_id: UUID) -> models.Booking:
    row = await _visible(uow, principal, booking_id)
    principal.require_org(row.org_id)
    booking, now = to_domain(row), models.now()
    changes = booking.confirm(now)
    if changes:
        await check_run_allowed(
            uow, org_id=row.org_id, facility_id=row.facility_id, run_kind=RunKind(row.run_kind),
            approval_id=row.approval_id, run=Period(row.starts_at, row.ends_at), now=now, refused="the run cannot be confirmed",
        )  # fmt: skip
    await save(uow, row, changes)
    return row


async def check_run_allowed(
    uow: SchedulingUnitOfWork,
    *,
    org_id: str,
    facility_id: UUID,
    run_kind: RunKind,
    approval_id: UUID | None,
    run: Period,
    now: datetime,
    refused: str,
) -> None:
    """Scheduling's replicas must still allow a run (or a campaign's runs, over `run`) when it is
    confirmed or its quote accepted: the facility holds a valid GMP certificate now (else the
    refusal ends with `refused`); a clinical run relies on its approval and on an active technical
    agreement."""
    if not certified(await uow.replicas.certificates(facility_id), now.date()):
        raise Conflict(f"Facility {facility_id} holds no valid GMP certificate now; {refused}.")
    approval = await uow.replicas.approval(approval_id) if run_kind is RunKind.CLINICAL else None
    check_clinical_approval(run_kind, approval, approval_id, org_id, facility_id)
    await agreements.require_agreement(uow, run_kind, org_id, facility_id, run, now.date())


async def on_reservation_confirmed(uow: SchedulingUnitOfWork, event: inbound.ReservationConfirmed) -> None:
    row = await uow.bookings.get(event.booking_id, lock=True)
    if row is not None:  # a late answer to a cancelled or settled booking changes nothing
        await save(uow, row, to_domain(row).materials_reserved())


async def on_reservation_failed(
    uow: SchedulingUnitOfWork, event: inbound.ReservationFailed, *, hold_ttl_seconds: int
) -> None:
    row = await uow.bookings.get(event.booking_id, lock=True)
    if row is not None:
        shortfalls = [s.model_dump(mode="json") for s in event.shortfalls]
        await save(uow, row, to_domain(row).materials_short(shortfalls, models.now(), hold_ttl_seconds))


async def cancel(
    uow: SchedulingUnitOfWork, principal: Principal, booking_id: UUID, reason: str | None, hold_ttl_seconds: int
) -> models.Booking:
    row = await _visible(uow, principal, booking_id)
    by_developer = principal.role is Role.DEVELOPER
    if by_developer:
        principal.require_org(row.org_id)
    await save(uow, row, to_domain(row).cancel(reason, by_developer=by_developer))
    await free_slots(uow, row.slot_ids, hold_ttl_seconds)
    return row


async def complete(uow: SchedulingUnitOfWork, principal: Principal, booking_id: UUID) -> models.Booking:
    row = await _visible(uow, principal, booking_id)
    if principal.role is not Role.ADMIN:
        principal.require_facility(str(row.facility_id))
    await save(uow, row, to_domain(row).complete(models.now()))
    return row


async def expire_overdue_holds(uow: SchedulingUnitOfWork, hold_ttl_seconds: int, batch: int = 100) -> list[UUID]:
    """Expire holds past their time and free their slots. Rows another replica is expiring are
    skipped, so any number of replicas may run this side by side."""
    now = models.now()
    expired = []
    for row in await uow.bookings.overdue_holds(now, batch):
        await save(uow, row, to_domain(row).expire(now))
        await free_slots(uow, row.slot_ids, hold_ttl_seconds)
        expired.append(row.id)
    return expired


async def ask_materials_again(
    uow: SchedulingUnitOfWork, retry_seconds: float, max_attempts: int, batch: int = 100
) -> list[UUID]:
    """The saga's deadline: send the reservation request again for every booking materials has not
    answered within `retry_seconds`; one that went unanswered `max_attempts` times is escalated
    first, once. Rows another replica holds are skipped, so replicas share the work."""
    now = models.now()
    asked = []
    for row in await uow.bookings.unanswered(now - timedelta(seconds=retry_seconds), batch):
        await save(uow, row, to_domain(row).ask_materials_again(now, retry_seconds, max_attempts))
        asked.append(row.id)
    return asked


async def remind_expiring_holds(uow: SchedulingUnitOfWork, reminder_seconds: int, batch: int = 100) -> list[UUID]:
    """Tell the developer and the facility of each hold expiring within `reminder_seconds`, once
    per hold and expiry, so the developer confirms in time. The reminder changes no booking; it is
    an event in the booking's history. Rows another replica holds are skipped."""
    now = models.now()
    reminded = []
    for row in await uow.bookings.holds_expiring(now + timedelta(seconds=reminder_seconds), now, batch):
        await uow.bookings.remember_reminder(row)
        uow.emit(
            events.BookingHoldExpiring(booking_id=row.id, booking=state_of(row), hold_expires_at=row.hold_expires_at)
        )
        reminded.append(row.id)
    return reminded


async def free_slots(uow: SchedulingUnitOfWork, slot_ids: Sequence[UUID], hold_ttl_seconds: int) -> None:
    """Give back the slots among these a booking still claims, in one statement; the waitlist is
    offered them first."""
    freed = await uow.slots.move(slot_ids, SlotStatus.OPEN, None, only_from=(SlotStatus.HELD, SlotStatus.BOOKED))
    await waitlist.offer_opened_slots(uow, freed, hold_ttl_seconds)


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


async def save(uow: SchedulingUnitOfWork, row: models.Booking, changes: BookingChanges) -> None:
    """Write each change's state to the row, in order, and emit its event. Every change is a new,
    attributed version, except asking materials again: the same confirmation, so materials knows
    the request and sends the answer it stored. Reserved materials book the held slots."""
    for state, change in changes:
        row.status = state.status.value
        for name in _AGGREGATE_STATE:
            setattr(row, name, getattr(state, name))
        if change is not BookingChange.MATERIALS_REQUESTED_AGAIN:
            row.touch(uow.actor)
        if change is BookingChange.MATERIALS_RESERVED:
            await uow.slots.move(row.slot_ids, SlotStatus.BOOKED, row.id, only_from=(SlotStatus.HELD,))
        uow.emit(_event(change, row))
    await uow.bookings.save(row)


def state_of(row: models.Booking) -> events.BookingState:
    return events.BookingState.model_validate(row, from_attributes=True)


def _event(change: BookingChange, row: models.Booking) -> events.Event:
    state = state_of(row)
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

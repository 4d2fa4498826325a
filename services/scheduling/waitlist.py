"""The waitlist: developers wait with criteria; when matching slots open (new capacity, a
cancellation, an expired hold, a reopened block), the first in line is given a hold."""

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from services.scheduling import events, models
from services.scheduling.domain import RunKind, SlotFilters, SlotStatus, check_clinical_approval
from services.scheduling.replicas import risks_of
from services.scheduling.repository import SchedulingUnitOfWork
from services.scheduling.schemas import WaitlistIn
from shared.problems import Conflict, NotFound, Problem

# How many already-open matching slots a new entry puts up for offer: enough that entries earlier in
# line, offered first, cannot use them all up, few enough to keep joining cheap.
OPEN_SLOTS_ON_JOIN = 20


async def join(
    uow: SchedulingUnitOfWork, org_id: str, request: WaitlistIn, hold_ttl_seconds: int
) -> models.WaitlistEntry:
    """Join the line. Slots that already match are offered at once, oldest entry first as always,
    so a developer who joins instead of booking still gets the earliest free slot held."""
    entry = models.WaitlistEntry(
        **request.model_dump(exclude={"material_needs", "run_kind"}),
        status="waiting",
        org_id=org_id,
        run_kind=request.run_kind.value,
        material_needs=[n.model_dump(mode="json") for n in request.material_needs],
        created_by=uow.actor,
        updated_by=uow.actor,
    )
    await uow.waitlist.save(entry)
    uow.emit(events.WaitlistJoined(waitlist_entry_id=entry.id, entry=_state(entry)))
    open_now = await uow.slots.available(filters_of(entry), OPEN_SLOTS_ON_JOIN)
    await offer_opened_slots(uow, open_now, hold_ttl_seconds)
    return entry


async def leave(uow: SchedulingUnitOfWork, entry_id: UUID, org_id: str | None) -> models.WaitlistEntry:
    """Leave the line; `org_id` None: on the developer's behalf (the hub operator)."""
    entry = await uow.waitlist.get(entry_id, lock=True)
    if entry is None or (org_id is not None and entry.org_id != org_id):
        raise NotFound(f"No waitlist entry {entry_id} of yours.")
    if entry.status != "waiting":
        raise Conflict(f"Waitlist entry {entry_id} is {entry.status}; only a waiting entry can be left.")
    entry.status = "cancelled"
    entry.touch(uow.actor)
    await uow.waitlist.save(entry)
    uow.emit(events.WaitlistLeft(waitlist_entry_id=entry.id, entry=_state(entry)))
    return entry


async def offer_opened_slots(
    uow: SchedulingUnitOfWork, opened: Sequence[UUID], hold_ttl_seconds: int
) -> list[models.Booking]:
    """Give each opened slot to the first waiting entry it matches, oldest entry first. Entries and
    slots another transaction is busy with are skipped, never waited for."""
    if not opened:
        return []
    offered = []
    for entry in await uow.waitlist.waiting():
        slot = await uow.slots.first_available_of(opened, filters_of(entry))
        if slot is None:
            continue
        try:
            approval = await uow.replicas.approval(entry.approval_id)
            check_clinical_approval(
                RunKind(entry.run_kind), approval, entry.approval_id, entry.org_id, slot.facility_id
            )
        except Problem:
            continue  # its approval no longer fits; it keeps its place for a later slot
        offered.append(await _hold_for(uow, entry, slot, hold_ttl_seconds))
    return offered


async def _hold_for(
    uow: SchedulingUnitOfWork, entry: models.WaitlistEntry, slot: models.Slot, hold_ttl_seconds: int
) -> models.Booking:
    now = models.now()
    booking = models.Booking.new_hold(
        [slot],
        org_id=entry.org_id,
        product=entry.product,
        run_kind=entry.run_kind,
        approval_id=entry.approval_id,
        material_needs=entry.material_needs,
        hold_expires_at=now + timedelta(seconds=hold_ttl_seconds),
        actor=uow.actor,
        waitlist_entry_id=entry.id,
    )
    await uow.slots.move([slot.id], SlotStatus.HELD, booking.id, only_from=(SlotStatus.OPEN,))
    booking.at_risk_reasons = await risks_of(uow, booking, now.date())
    await uow.bookings.add(booking)
    entry.status, entry.booking_id = "offered", booking.id
    entry.touch(uow.actor)
    await uow.waitlist.save(entry)
    uow.emit(
        events.WaitlistHoldOffered(
            booking_id=booking.id,
            booking=events.BookingState.model_validate(booking, from_attributes=True),
            waitlist_entry_id=entry.id,
            hold_expires_at=booking.hold_expires_at,
        )
    )
    return booking


def filters_of(entry: models.WaitlistEntry) -> SlotFilters:
    return SlotFilters(
        starts_from=entry.earliest_start,
        ends_before=entry.latest_end,
        country=entry.country,
        atmp_type=entry.atmp_type,
        process=entry.process,
        cleanroom_grade=entry.cleanroom_grade,
        facility_id=entry.facility_id,
        suite_id=entry.suite_id,
    )


def _state(entry: models.WaitlistEntry) -> events.WaitlistEntryState:
    return events.WaitlistEntryState.model_validate(entry, from_attributes=True)

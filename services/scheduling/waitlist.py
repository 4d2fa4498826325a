"""The waitlist: developers wait with criteria; when matching slots open (new capacity, a
cancellation, an expired hold, a reopened block), the first in line is given a hold."""

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from sqlmodel import col, select

from services.scheduling import events, models
from services.scheduling.bookings import approval_facts, booking_state, new_booking, risks_of, set_slots, touch
from services.scheduling.domain import RunKind, SlotStatus, check_clinical_approval
from services.scheduling.search import SlotFilters, available_slots
from shared.database import UnitOfWork
from shared.errors import Conflict, NotFound, Problem

CRITERIA = (
    "facility_id",
    "suite_id",
    "country",
    "atmp_type",
    "process",
    "cleanroom_grade",
    "earliest_start",
    "latest_end",
)


def entry_state(e: models.WaitlistEntry) -> events.WaitlistEntryState:
    criteria = {k: str(getattr(e, k)) for k in CRITERIA if getattr(e, k) is not None}
    return events.WaitlistEntryState(
        waitlist_entry_id=e.id,
        status=e.status,
        org_id=e.org_id,
        product=e.product,
        run_kind=e.run_kind,
        criteria=criteria,
        booking_id=e.booking_id,
    )


def filters_of(e: models.WaitlistEntry) -> SlotFilters:
    return SlotFilters(
        starts_from=e.earliest_start,
        ends_before=e.latest_end,
        country=e.country,
        atmp_type=e.atmp_type,
        process=e.process,
        cleanroom_grade=e.cleanroom_grade,
        facility_id=e.facility_id,
        suite_id=e.suite_id,
    )


# How many already-open matching slots a new entry puts up for offer: enough that entries earlier in
# line, offered first, cannot use them all up, few enough to keep joining cheap.
OPEN_SLOTS_ON_JOIN = 20


async def join(uow: UnitOfWork, entry: models.WaitlistEntry, hold_ttl_seconds: int) -> models.WaitlistEntry:
    """Join the line. Slots that already match are offered at once, oldest entry first as always,
    so a developer who joins instead of booking still gets the earliest free slot held."""
    uow.session.add(entry)
    uow.emit(events.WaitlistJoined(waitlist_entry_id=entry.id, entry=entry_state(entry)))
    await uow.session.flush()
    query = available_slots(filters_of(entry)).order_by(col(models.Slot.starts_at)).limit(OPEN_SLOTS_ON_JOIN)
    open_now = [slot.id for slot, *_ in await uow.session.exec(query)]
    await offer_opened_slots(uow, open_now, hold_ttl_seconds)
    return entry


async def leave(uow: UnitOfWork, entry_id: UUID, org_id: str | None) -> models.WaitlistEntry:
    entry = await uow.session.get(models.WaitlistEntry, entry_id, with_for_update=True)
    if entry is None or (org_id is not None and entry.org_id != org_id):
        raise NotFound(f"No waitlist entry {entry_id} of yours.")
    if entry.status != "waiting":
        raise Conflict(f"Waitlist entry {entry_id} is {entry.status}; only a waiting entry can be left.")
    entry.status = "cancelled"
    touch(entry, uow.actor)
    uow.session.add(entry)
    uow.emit(events.WaitlistLeft(waitlist_entry_id=entry.id, entry=entry_state(entry)))
    return entry


async def offer_opened_slots(uow: UnitOfWork, opened: Sequence[UUID], hold_ttl_seconds: int) -> list[models.Booking]:
    """Give each opened slot to the first waiting entry it matches, oldest entry first. Entries and
    slots another transaction is busy with are skipped, never waited for."""
    if not opened:
        return []
    waiting = await uow.session.exec(
        select(models.WaitlistEntry)
        .where(models.WaitlistEntry.status == "waiting")
        .order_by(col(models.WaitlistEntry.created_at))
        .with_for_update(skip_locked=True)
    )
    offered = []
    for entry in waiting:
        query = (
            available_slots(filters_of(entry))
            .where(col(models.Slot.id).in_(opened))
            .order_by(col(models.Slot.starts_at))
            .limit(1)
            .with_for_update(of=models.Slot, skip_locked=True)
        )
        row = (await uow.session.exec(query)).first()
        if row is None:
            continue
        slot = row[0]
        try:
            approval = await approval_facts(uow, entry.approval_id)
            check_clinical_approval(
                RunKind(entry.run_kind), approval, entry.approval_id, entry.org_id, slot.facility_id
            )
        except Problem:
            continue  # its approval no longer fits; it keeps its place for a later slot
        offered.append(await _hold_for(uow, entry, slot, hold_ttl_seconds))
    return offered


async def _hold_for(
    uow: UnitOfWork, entry: models.WaitlistEntry, slot: models.Slot, hold_ttl_seconds: int
) -> models.Booking:
    now = models.now()
    booking = new_booking(
        slots=[slot],
        org_id=entry.org_id,
        product=entry.product,
        run_kind=entry.run_kind,
        approval_id=entry.approval_id,
        material_needs=entry.material_needs,
        hold_expires_at=now + timedelta(seconds=hold_ttl_seconds),
        actor=uow.actor,
        waitlist_entry_id=entry.id,
    )
    await set_slots(uow, [slot.id], SlotStatus.HELD, booking.id, only_from=(SlotStatus.OPEN,))
    booking.at_risk_reasons = await risks_of(uow, booking, now.date())
    uow.session.add(booking)
    entry.status, entry.booking_id = "offered", booking.id
    touch(entry, uow.actor)
    uow.session.add(entry)
    uow.emit(
        events.WaitlistHoldOffered(
            booking_id=booking.id,
            booking=booking_state(booking),
            waitlist_entry_id=entry.id,
            hold_expires_at=booking.hold_expires_at,
        )
    )
    return booking

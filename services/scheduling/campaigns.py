"""Campaign use cases: an accepted quote becomes one campaign, each batch a booking over the slot
the quote held for it; the campaign is confirmed and reserved as a whole (one request to materials
for every batch, one answer, all or nothing), then its batches are cancelled, moved or completed one
by one. Load, apply the rules of domain.Campaign, save, emit events; the caller commits.

Locks are taken in one order: the campaign, its batches (in id order), then slots (a moved batch's
new slot without waiting, as a hold claims it), so campaign changes never deadlock one another, and
of two moves racing for one slot exactly one wins. The saga keeps a booking's deadline and retries
(`materials_requested_at`, `materials_asked_at`, `materials_attempts` on the campaign); its batches
carry neither, so the bookings' jobs never touch them, and a batch never asks materials alone."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from services.scheduling import agreements, bookings, events, inbound, models
from services.scheduling.domain import (
    Booking,
    BookingChange,
    BookingStatus,
    Campaign,
    CampaignChange,
    CampaignChanges,
    CampaignStatus,
    Period,
    RunKind,
    SlotStatus,
    at_risk_reasons,
    certified,
    check_reschedule,
)
from services.scheduling.repository import SchedulingUnitOfWork
from shared.auth import Principal, Role
from shared.problems import Conflict, NotFound, Unprocessable


async def open_from_quote(
    uow: SchedulingUnitOfWork, request: models.ManufacturingRequest, quote: models.Quote, hold_ttl_seconds: int
) -> models.Campaign:
    """The campaign an accepted quote becomes: one booking per quoted batch, its slot moved from
    `quoted` to `held` for it (all in one statement), held as a booking's hold is."""
    now, actor = models.now(), uow.actor or "unknown"
    row = models.Campaign(
        id=uuid.uuid4(), status=CampaignStatus.HELD.value, request_id=request.id, quote_id=quote.id,
        org_id=request.org_id, facility_id=quote.facility_id, product=request.product, run_kind=request.run_kind,
        approval_id=request.approval_id, atmp_type=request.atmp_type, process=request.process,
        hold_expires_at=now + timedelta(seconds=hold_ttl_seconds), shortfalls=[], created_by=actor, updated_by=actor,
    )  # fmt: skip
    needed = [UUID(str(n["material_id"])) for n in request.material_needs]
    facts = await uow.replicas.risk_facts(quote.facility_id, needed, request.approval_id)
    risks = at_risk_reasons(facts, needed, now.date())
    batches = [
        models.Booking(
            id=uuid.uuid4(),
            status=BookingStatus.HELD.value,
            org_id=request.org_id,
            facility_id=quote.facility_id,
            suite_id=UUID(str(b["suite_id"])),
            slot_ids=[UUID(str(b["slot_id"]))],
            starts_at=datetime.fromisoformat(b["starts_at"]),
            ends_at=datetime.fromisoformat(b["ends_at"]),
            product=request.product,
            run_kind=request.run_kind,
            approval_id=request.approval_id,
            material_needs=list(request.material_needs),
            at_risk_reasons=list(risks),
            shortfalls=[],
            campaign_id=row.id,
            created_by=actor,
            updated_by=actor,
        )  # fmt: skip
        for b in quote.batches
    ]
    await uow.campaigns.add(row, batches)
    held = await uow.slots.hold_quoted_for_batches(quote.id, [(b.slot_ids[0], b.id) for b in batches])
    if len(held) != len(batches):  # the quote's slots are its own while offered; the guard keeps it so
        raise Conflict(f"A slot of quote {quote.id} is no longer held for it.")
    for batch in batches:
        uow.emit(
            events.BookingHeld(
                booking_id=batch.id, booking=bookings.state_of(batch), hold_expires_at=row.hold_expires_at
            )
        )
    uow.emit(events.CampaignHeld(campaign_id=row.id, campaign=campaign_state(row, batches)))
    return row


def may_read(principal: Principal, row: models.Campaign) -> bool:
    return (
        principal.is_admin
        or (principal.role is Role.DEVELOPER and principal.org_id == row.org_id)
        or (principal.role is Role.FACILITY and str(row.facility_id) in principal.facility_ids)
    )


def may_inspect(principal: Principal, row: models.Campaign) -> bool:
    """Reading only: a regulator reads any campaign, as it reads any booking (inspection)."""
    return may_read(principal, row) or principal.role is Role.REGULATOR


async def _visible(
    uow: SchedulingUnitOfWork, principal: Principal, campaign_id: UUID
) -> tuple[models.Campaign, list[models.Booking]]:
    """The campaign and its batches, locked, if the principal may act on it."""
    row = await uow.campaigns.get(campaign_id, lock=True)
    if row is None or not may_read(principal, row):
        raise NotFound(f"No campaign {campaign_id}.")  # do not reveal others' campaigns
    return row, await uow.campaigns.batches(row.id)


async def confirm(uow: SchedulingUnitOfWork, principal: Principal, campaign_id: UUID) -> models.Campaign:
    """The developer confirms every open batch at once; the facility and the approval must still
    allow the runs, and a clinical campaign needs an active technical agreement over its batches'
    days. A repeat while materials answers changes nothing (the answer is the campaign as it is)."""
    row, batch_rows = await _visible(uow, principal, campaign_id)
    principal.require_org(row.org_id)
    campaign, now = to_domain(row, batch_rows), models.now()
    changes = campaign.confirm(now)
    if changes:
        runs = [b for b in batch_rows if b.id in {o.id for o in campaign.open_batches}]
        await bookings.check_run_allowed(
            uow, org_id=row.org_id, facility_id=row.facility_id, run_kind=RunKind(row.run_kind),
            approval_id=row.approval_id, run=Period(min(b.starts_at for b in runs), max(b.ends_at for b in runs)),
            now=now, refused="the campaign cannot be confirmed",
        )  # fmt: skip
    await save(uow, row, batch_rows, changes)
    return row


async def on_reservation_confirmed(uow: SchedulingUnitOfWork, event: inbound.CampaignReservationConfirmed) -> None:
    row = await uow.campaigns.get(event.campaign_id, lock=True)
    if row is not None:  # a late answer to a cancelled or settled campaign changes nothing
        batch_rows = await uow.campaigns.batches(row.id)
        await save(uow, row, batch_rows, to_domain(row, batch_rows).materials_reserved())


async def on_reservation_failed(
    uow: SchedulingUnitOfWork, event: inbound.CampaignReservationFailed, *, hold_ttl_seconds: int
) -> None:
    row = await uow.campaigns.get(event.campaign_id, lock=True)
    if row is not None:
        batch_rows = await uow.campaigns.batches(row.id)
        shortfalls = [(b.booking_id, [s.model_dump(mode="json") for s in b.shortfalls]) for b in event.batches]
        changes = to_domain(row, batch_rows).materials_short(shortfalls, models.now(), hold_ttl_seconds)
        await save(uow, row, batch_rows, changes)


async def cancel(
    uow: SchedulingUnitOfWork, principal: Principal, campaign_id: UUID, reason: str | None, hold_ttl_seconds: int
) -> models.Campaign:
    """The whole campaign, by its developer or (with a reason) its facility: every open batch's slot
    is freed, and materials releases what they hold."""
    row, batch_rows = await _visible(uow, principal, campaign_id)
    by_developer = _acting_developer(principal, row)
    changes = to_domain(row, batch_rows).cancel(reason, by_developer=by_developer)
    await save(uow, row, batch_rows, changes, hold_ttl_seconds=hold_ttl_seconds)
    return row


async def cancel_batch(
    uow: SchedulingUnitOfWork,
    principal: Principal,
    campaign_id: UUID,
    booking_id: UUID,
    reason: str | None,
    hold_ttl_seconds: int,
) -> models.Campaign:
    """One batch: its slot is freed, materials releases that batch alone (`booking.cancelled`)."""
    row, batch_rows = await _visible(uow, principal, campaign_id)
    by_developer = _acting_developer(principal, row)
    changes = to_domain(row, batch_rows).cancel_batch(booking_id, reason, by_developer=by_developer)
    await save(uow, row, batch_rows, changes, hold_ttl_seconds=hold_ttl_seconds)
    return row


async def complete_batch(
    uow: SchedulingUnitOfWork, principal: Principal, campaign_id: UUID, booking_id: UUID
) -> models.Campaign:
    """The facility says one batch's run took place (materials uses up what it reserved for it)."""
    row, batch_rows = await _visible(uow, principal, campaign_id)
    principal.require_facility(str(row.facility_id))  # the admin too
    await save(uow, row, batch_rows, to_domain(row, batch_rows).complete_batch(booking_id, models.now()))
    return row


async def reschedule_batch(
    uow: SchedulingUnitOfWork,
    principal: Principal,
    campaign_id: UUID,
    booking_id: UUID,
    slot_id: UUID,
    reason: str,
    hold_ttl_seconds: int,
) -> models.Campaign:
    """Move one batch to another open slot of the facility, by the developer or the facility: the
    new slot is claimed without waiting (a move racing for it gets 409) and takes the batch's state
    (held, or booked for a confirmed batch); the old one opens (the waitlist first). What materials
    reserved stays with the batch."""
    row, batch_rows = await _visible(uow, principal, campaign_id)
    _acting_developer(principal, row)
    batch = to_domain(row, batch_rows).batch(booking_id, "rescheduled")
    batch_row = next(b for b in batch_rows if b.id == booking_id)
    claimed = await uow.slots.claim([slot_id])
    if not claimed:
        raise NotFound(f"No slot {slot_id}.")
    to = claimed[0]
    now = models.now()
    check_reschedule(batch, to, row.facility_id, now)
    await check_suite_runs(uow, to.suite_id, row.atmp_type, row.process)
    if not certified(to.certificates, now.date()):
        raise Conflict(f"Facility {row.facility_id} holds no valid GMP certificate; its slots cannot be booked.")
    run = Period(to.starts_at, to.ends_at)
    await agreements.require_agreement(uow, RunKind(row.run_kind), row.org_id, row.facility_id, run, now.date())
    status = SlotStatus.BOOKED if batch.status is BookingStatus.CONFIRMED else SlotStatus.HELD
    moved = await uow.slots.move([to.id], status, batch_row.id, only_from=(SlotStatus.OPEN,))
    if len(moved) != 1:  # cannot happen under the claim's lock; the guard keeps it so
        raise Conflict("The slot was taken concurrently.")
    before = batch_row.slot_ids
    await bookings.free_slots(uow, before, hold_ttl_seconds)
    batch_row.slot_ids, batch_row.suite_id, batch_row.starts_at, batch_row.ends_at = (
        [to.id],
        to.suite_id,
        to.starts_at,
        to.ends_at,
    )
    batch_row.touch(uow.actor)
    await uow.bookings.save(batch_row)
    uow.emit(events.BookingRescheduled(
        booking_id=batch_row.id, booking=bookings.state_of(batch_row), from_slot_ids=before, reason=reason
    ))  # fmt: skip
    return row


async def check_suite_runs(uow: SchedulingUnitOfWork, suite_id: UUID, atmp_type: str, process: str) -> None:
    """Where a batch may be quoted or moved: a live suite that runs its ATMP type by its process."""
    suite = await uow.replicas.get(models.SuiteView, suite_id)
    if suite is None or suite.retired:
        raise Conflict(f"Suite {suite_id} is retired; a batch cannot run there.")
    if atmp_type not in suite.atmp_types or process not in suite.processes:
        raise Unprocessable(f"Suite {suite.name} ({suite_id}) does not run {atmp_type} by {process}.")


async def expire_overdue_holds(uow: SchedulingUnitOfWork, hold_ttl_seconds: int, batch: int = 100) -> list[UUID]:
    """Expire campaigns whose hold ran out, freeing every batch's slot (the job; replicas share it)."""
    now, expired = models.now(), []
    for row in await uow.campaigns.overdue_holds(now, batch):
        batch_rows = await uow.campaigns.batches(row.id)
        await save(uow, row, batch_rows, to_domain(row, batch_rows).expire(now), hold_ttl_seconds=hold_ttl_seconds)
        expired.append(row.id)
    return expired


async def remind_expiring_holds(uow: SchedulingUnitOfWork, reminder_seconds: int, batch: int = 100) -> list[UUID]:
    """Tell the developer and the facility of each campaign whose hold expires within
    `reminder_seconds`, once per hold and expiry, as a booking's hold is told
    (`bookings.remind_expiring_holds`; the batches have no hold of their own). The reminder changes
    no state; it is an event in the campaign's history."""
    now, reminded = models.now(), []
    for row in await uow.campaigns.holds_expiring(now + timedelta(seconds=reminder_seconds), now, batch):
        row.hold_reminded_for = row.hold_expires_at
        await uow.campaigns.save(row)
        assert row.hold_expires_at is not None  # the query asks for campaigns whose hold runs
        state = campaign_state(row, await uow.campaigns.batches(row.id))
        uow.emit(events.CampaignHoldExpiring(campaign_id=row.id, campaign=state, hold_expires_at=row.hold_expires_at))
        reminded.append(row.id)
    return reminded


async def ask_materials_again(
    uow: SchedulingUnitOfWork, retry_seconds: float, max_attempts: int, batch: int = 100
) -> list[UUID]:
    """The saga's deadline for campaigns, as for bookings (`bookings.ask_materials_again`)."""
    now, asked = models.now(), []
    for row in await uow.campaigns.unanswered(now - timedelta(seconds=retry_seconds), batch):
        batch_rows = await uow.campaigns.batches(row.id)
        await save(
            uow, row, batch_rows, to_domain(row, batch_rows).ask_materials_again(now, retry_seconds, max_attempts)
        )
        asked.append(row.id)
    return asked


def _acting_developer(principal: Principal, row: models.Campaign) -> bool:
    """Whether the developer acts (then of the campaign's organisation); else its facility or the hub operator."""
    if principal.role is Role.DEVELOPER:
        principal.require_org(row.org_id)
        return True
    return False


# --- the aggregate and its rows -------------------------------------------------------------------

_AGGREGATE_STATE = (
    "hold_expires_at", "materials_requested_at", "materials_asked_at", "materials_attempts",
    "materials_overdue_since", "shortfalls", "cancel_reason",
)  # fmt: skip


def to_domain(row: models.Campaign, batch_rows: Sequence[models.Booking]) -> Campaign:
    return Campaign(
        id=row.id, status=CampaignStatus(row.status), org_id=row.org_id,
        batches=[bookings.to_domain(b) for b in batch_rows], **{name: getattr(row, name) for name in _AGGREGATE_STATE},
    )  # fmt: skip


async def save(
    uow: SchedulingUnitOfWork,
    row: models.Campaign,
    batch_rows: Sequence[models.Booking],
    changes: CampaignChanges,
    *,
    hold_ttl_seconds: int = 0,
) -> None:
    """Write each change to its row in order and emit its event: a batch's as a booking's
    (`bookings.save`: reserved materials book its slot), the campaign's as the campaign's. Slots of
    batches that ended go back in one statement (`hold_ttl_seconds` for the waitlist's offers)."""
    by_id = {b.id: b for b in batch_rows}
    ended: list[UUID] = []
    for state, change in changes:
        if isinstance(state, Booking) and isinstance(change, BookingChange):
            batch = by_id[state.id]
            await bookings.save(uow, batch, [(state, change)])
            if change in (BookingChange.CANCELLED, BookingChange.EXPIRED):
                ended += batch.slot_ids
        elif isinstance(state, Campaign) and isinstance(change, CampaignChange):
            row.status = state.status.value
            for name in _AGGREGATE_STATE:
                setattr(row, name, getattr(state, name))
            if change is not CampaignChange.MATERIALS_REQUESTED_AGAIN:  # the same request, sent again
                row.touch(uow.actor)
            uow.emit(_event(change, row, batch_rows))
    await uow.campaigns.save(row)
    if ended:
        await bookings.free_slots(uow, ended, hold_ttl_seconds)


def campaign_state(row: models.Campaign, batch_rows: Sequence[models.Booking]) -> events.CampaignState:
    in_order = sorted(batch_rows, key=lambda b: (b.starts_at, b.id))
    batches = [
        events.CampaignBatch(
            batch=n,
            booking_id=b.id,
            status=b.status,
            suite_id=b.suite_id,
            slot_ids=b.slot_ids,
            starts_at=b.starts_at,
            ends_at=b.ends_at,
        )  # fmt: skip
        for n, b in enumerate(in_order, start=1)
    ]
    return events.CampaignState.model_validate(row.model_dump() | {"campaign_id": row.id, "batches": batches})


def _event(change: CampaignChange, row: models.Campaign, batch_rows: Sequence[models.Booking]) -> events.Event:
    state = campaign_state(row, batch_rows)
    match change:
        case CampaignChange.CONFIRMED | CampaignChange.MATERIALS_REQUESTED_AGAIN:
            reserve = [
                events.BatchToReserve(booking_id=b.id, starts_at=b.starts_at, material_needs=b.material_needs)
                for b in batch_rows if b.status in (BookingStatus.HELD, BookingStatus.MATERIALS_SHORT)
            ]  # fmt: skip
            return events.CampaignConfirmed(
                campaign_id=row.id, campaign=state, reserve=reserve, attempt=row.materials_attempts
            )
        case CampaignChange.ESCALATED:
            return events.CampaignEscalated(
                campaign_id=row.id, campaign=state, attempts=row.materials_attempts,
                awaiting_since=row.materials_requested_at,
            )  # fmt: skip
        case CampaignChange.CANCELLED:
            return events.CampaignCancelled(campaign_id=row.id, campaign=state, reason=row.cancel_reason)
    announced = {
        CampaignChange.MATERIALS_RESERVED: events.CampaignMaterialsReserved,
        CampaignChange.MATERIALS_SHORT: events.CampaignMaterialsShort,
        CampaignChange.EXPIRED: events.CampaignExpired,
        CampaignChange.COMPLETED: events.CampaignCompleted,
    }
    return announced[change](campaign_id=row.id, campaign=state)

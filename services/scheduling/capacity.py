"""Capacity use cases: a facility publishes slots on its suites, blocks, withdraws or reopens them."""

from collections.abc import Sequence
from uuid import UUID

from services.scheduling import events, models, waitlist
from services.scheduling.domain import Period, SlotStatus, certified, plan_slots
from services.scheduling.repository import SchedulingUnitOfWork
from shared.problems import Conflict, NotFound, Unprocessable


async def publish(
    uow: SchedulingUnitOfWork, facility_id: UUID, suite_id: UUID, periods: Sequence[Period], hold_ttl_seconds: int
) -> list[models.Slot]:
    now = models.now()
    planned = plan_slots(periods, now=now)
    suite = await uow.replicas.get(models.SuiteView, suite_id)
    if suite is None or suite.facility_id != facility_id:
        raise NotFound(f"Facility {facility_id} has no suite {suite_id} known to scheduling.")
    if suite.retired:
        raise Conflict(f"Suite {suite.name} is retired; it takes no new capacity.")
    if not certified(await uow.replicas.certificates(facility_id), now.date()):
        raise Conflict(f"Facility {facility_id} holds no valid GMP certificate; it cannot publish capacity.")
    await _refuse_overlaps(uow, suite_id, planned)
    actor = uow.actor or "unknown"
    slots = [
        models.Slot(
            suite_id=suite_id,
            facility_id=facility_id,
            starts_at=p.starts_at,
            ends_at=p.ends_at,
            status=SlotStatus.OPEN.value,
            created_by=actor,
            updated_by=actor,
        )
        for p in planned
    ]
    await uow.slots.add(slots)
    uow.emit(
        events.CapacityPublished(
            suite_id=suite_id,
            facility_id=facility_id,
            slot_ids=[s.id for s in slots],
            first_start=planned[0].starts_at,
            last_end=planned[-1].ends_at,
        )
    )
    await waitlist.offer_opened_slots(uow, [s.id for s in slots], hold_ttl_seconds)
    await uow.slots.resample_if_grown(len(slots))
    return slots


async def _refuse_overlaps(uow: SchedulingUnitOfWork, suite_id: UUID, planned: Sequence[Period]) -> None:
    """A clear answer before the exclusion constraint would give a bare one."""
    existing = await uow.slots.live_periods_within(suite_id, Period(planned[0].starts_at, planned[-1].ends_at))
    for slot in existing:
        for p in planned:
            if p.starts_at < slot.ends_at and slot.starts_at < p.ends_at:
                raise Conflict(
                    f"A slot from {p.starts_at.isoformat()} overlaps the existing slot "
                    f"{slot.starts_at.isoformat()}–{slot.ends_at.isoformat()} on this suite."
                )


async def change_slots(
    uow: SchedulingUnitOfWork,
    facility_id: UUID,
    slot_ids: Sequence[UUID],
    action: str,
    reason: str | None,
    hold_ttl_seconds: int,
) -> list[UUID]:
    """Block or withdraw open slots, or reopen blocked ones; all or nothing."""
    source, target = {
        "block": (SlotStatus.OPEN, SlotStatus.BLOCKED),
        "withdraw": (SlotStatus.OPEN, SlotStatus.WITHDRAWN),
        "reopen": (SlotStatus.BLOCKED, SlotStatus.OPEN),
    }[action]
    if action == "withdraw":
        source_ok: tuple[SlotStatus, ...] = (SlotStatus.OPEN, SlotStatus.BLOCKED)
    else:
        source_ok = (source,)
    slots = await uow.slots.lock(slot_ids)
    found = {s.id for s in slots if s.facility_id == facility_id}
    missing = [str(i) for i in slot_ids if i not in found]
    if missing:
        raise NotFound(f"Facility {facility_id} has no slots {', '.join(missing)}.")
    for slot in slots:
        if slot.status not in source_ok:
            raise Conflict(
                f"Slot {slot.id} is {slot.status}; only {' or '.join(s.value for s in source_ok)} slots can be "
                f"{'withdrawn' if action == 'withdraw' else action + 'ed'}."
                + (" Cancel its booking first." if slot.status in ("held", "booked") else "")
            )
    if len({s.suite_id for s in slots}) != 1:
        raise Unprocessable("Change the slots of one suite at a time.")
    moved = await uow.slots.move(slot_ids, target, None, reason=reason, only_from=source_ok)
    suite_id = slots[0].suite_id
    if action == "reopen":
        uow.emit(events.SlotsReopened(suite_id=suite_id, facility_id=facility_id, slot_ids=moved))
        await waitlist.offer_opened_slots(uow, moved, hold_ttl_seconds)
    else:
        uow.emit(
            events.SlotsWithdrawn(
                suite_id=suite_id, facility_id=facility_id, slot_ids=moved, status=target.value, reason=reason
            )
        )
    return moved

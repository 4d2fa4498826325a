"""Scheduling HTTP API under /v1: facilities, capacity and the slot search. Bookings, waitlist and
calendar feeds are in api_bookings.py."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from sqlmodel import col, select

from services.scheduling import capacity, models, readmodels, search
from services.scheduling.domain import Period, weekly_slots, window_slots
from services.scheduling.schemas import AvailableSlot, CapacityIn, CapacityOut, SlotChange, SlotOut, SlotPage
from shared.auth import CurrentPrincipal, Role
from shared.service import Context

router = APIRouter(prefix="/v1")


class FacilityOut(BaseModel):
    facility_id: UUID
    version: int
    legal_name: str
    country: str
    active: bool
    updated_at: datetime


@router.get("/facilities/{facility_id}", response_model=FacilityOut, tags=["facilities"],
            summary="Scheduling's view of a facility, as learnt from registry events")  # fmt: skip
async def read_facility(facility_id: UUID, principal: CurrentPrincipal, context: Context) -> FacilityOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        view = await readmodels.get_facility(uow, facility_id)
        return FacilityOut.model_validate(view, from_attributes=True)


@router.post("/facilities/{facility_id}/capacity", status_code=status.HTTP_201_CREATED, response_model=CapacityOut,
             tags=["capacity"], summary="Publish slots on a suite: a window cut into slots, a list, or a weekly recurrence")  # fmt: skip
async def publish_capacity(
    facility_id: UUID, body: CapacityIn, principal: CurrentPrincipal, context: Context
) -> CapacityOut:
    principal.require_facility(str(facility_id))
    if body.window:
        w = body.window
        periods = window_slots(w.starts_at, w.ends_at, w.slot_minutes, w.gap_minutes)
    elif body.weekly:
        periods = weekly_slots(body.weekly.starts_at, body.weekly.ends_at, body.weekly.until, body.weekly.weekdays)
    else:
        periods = [Period(s.starts_at, s.ends_at) for s in body.slots or []]
    async with context.db.unit_of_work(principal.actor) as uow:
        slots = await capacity.publish(uow, facility_id, body.suite_id, periods, context.settings.hold_ttl_seconds)
        await uow.commit()
    held = sum(1 for s in slots if s.status != "open")
    return CapacityOut(suite_id=body.suite_id, slots=[SlotOut.of(s) for s in slots], waitlist_holds=held)


@router.post("/facilities/{facility_id}/slots/{action}", response_model=list[UUID], tags=["capacity"],
             summary="Block or withdraw open slots, or reopen blocked ones (a booked slot is refused with 409)")  # fmt: skip
async def change_slots(
    facility_id: UUID,
    action: Literal["block", "withdraw", "reopen"],
    body: SlotChange,
    principal: CurrentPrincipal,
    context: Context,
) -> list[UUID]:
    principal.require_facility(str(facility_id))
    async with context.db.unit_of_work(principal.actor) as uow:
        moved = await capacity.change_slots(
            uow, facility_id, body.slot_ids, action, body.reason, context.settings.hold_ttl_seconds
        )
        await uow.commit()
    return moved


@router.get("/facilities/{facility_id}/slots", response_model=list[SlotOut], tags=["capacity"],
            summary="A facility's own slots in every status, by start")  # fmt: skip
async def facility_slots(
    facility_id: UUID,
    principal: CurrentPrincipal,
    context: Context,
    starts_from: datetime | None = None,
    slot_status: Annotated[str | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SlotOut]:
    principal.require_facility(str(facility_id))
    query = select(models.Slot).where(models.Slot.facility_id == facility_id)
    if starts_from:
        query = query.where(col(models.Slot.starts_at) >= starts_from)
    if slot_status:
        query = query.where(models.Slot.status == slot_status)
    query = query.order_by(col(models.Slot.starts_at), col(models.Slot.id)).offset(offset).limit(limit)
    async with context.db.unit_of_work(principal.actor) as uow:
        return [SlotOut.of(s) for s in await uow.session.exec(query)]


@router.get("/slots", response_model=SlotPage, tags=["slots"],
            summary="Available slots (open, facility certified), filtered, sorted by start, a page at a time")  # fmt: skip
async def find_slots(
    principal: CurrentPrincipal,
    context: Context,
    starts_from: Annotated[datetime | None, Query(description="Slots starting at or after (default: now)")] = None,
    ends_before: Annotated[datetime | None, Query(description="Slots ending at or before")] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    atmp_type: Annotated[str | None, Query(examples=["gene_therapy"])] = None,
    process: Annotated[str | None, Query(description="A process or capability of the suite")] = None,
    cleanroom_grade: Annotated[str | None, Query(examples=["B"])] = None,
    facility_id: UUID | None = None,
    suite_id: UUID | None = None,
    after: Annotated[str | None, Query(description="The `next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SlotPage:
    principal.require_role(Role.DEVELOPER, Role.FACILITY, Role.REGULATOR)
    filters = search.SlotFilters(
        starts_from=starts_from or models.now(),
        ends_before=ends_before,
        country=country,
        atmp_type=atmp_type,
        process=process,
        cleanroom_grade=cleanroom_grade,
        facility_id=facility_id,
        suite_id=suite_id,
    )
    async with context.db.unit_of_work(principal.actor) as uow:
        rows = (await uow.session.exec(search.page(search.available_slots(filters), after, limit + 1))).all()
    items = [
        AvailableSlot(
            **SlotOut.of(slot).model_dump(),
            suite_name=suite.name,
            cleanroom_grade=suite.cleanroom_grade,
            atmp_types=suite.atmp_types,
            processes=suite.processes,
            facility_name=facility.legal_name,
            country=facility.country,
        )
        for slot, suite, facility in rows[:limit]
    ]
    next_cursor = search.encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return SlotPage(items=items, next_cursor=next_cursor)

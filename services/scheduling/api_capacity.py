"""Scheduling HTTP API under /v1 for facilities: scheduling's view of a facility, and its capacity
(publishing slots; blocking, withdrawing and reopening them; its own slots)."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from services.scheduling import capacity, queries
from services.scheduling.domain import Period, SlotStatus, weekly_slots, window_slots
from services.scheduling.schemas import CapacityIn, CapacityOut, Limit, Offset, SlotChange, SlotOut
from shared.auth import CurrentPrincipal
from shared.fields import IsoDateTime
from shared.service import Context

router = APIRouter(prefix="/v1")


class FacilityOut(BaseModel):
    facility_id: UUID
    version: int
    legal_name: str
    country: str
    oms_location_id: str | None = None
    active: bool
    updated_at: datetime


@router.get("/facilities/{facility_id}", response_model=FacilityOut, tags=["facilities"],
            summary="Scheduling's view of a facility, as learnt from registry events")  # fmt: skip
async def read_facility(facility_id: UUID, principal: CurrentPrincipal, context: Context) -> FacilityOut:
    async with context.db.sessions() as session:
        return FacilityOut.model_validate(await queries.facility(session, facility_id), from_attributes=True)


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
    starts_from: IsoDateTime | None = None,
    slot_status: Annotated[SlotStatus | None, Query(alias="status")] = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> list[SlotOut]:
    principal.require_facility(str(facility_id))
    async with context.db.sessions() as session:
        slots = await queries.facility_slots(
            session,
            facility_id,
            starts_from=starts_from,
            status=slot_status and slot_status.value,
            limit=limit,
            offset=offset,
        )
    return [SlotOut.of(s) for s in slots]

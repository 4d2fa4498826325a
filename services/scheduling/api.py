"""Scheduling HTTP API under /v1."""

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from services.scheduling import handlers
from shared.auth import CurrentPrincipal
from shared.service import Context

router = APIRouter(prefix="/v1", tags=["facilities"])


class FacilityOut(BaseModel):
    facility_id: UUID
    version: int
    legal_name: str
    country: str
    active: bool
    updated_at: datetime


@router.get("/facilities/{facility_id}", response_model=FacilityOut,
            summary="Scheduling's view of a facility, as learnt from registry events")  # fmt: skip
async def read_facility(facility_id: UUID, principal: CurrentPrincipal, context: Context) -> FacilityOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        view = await handlers.get_facility(uow, facility_id)
        return FacilityOut.model_validate(view, from_attributes=True)

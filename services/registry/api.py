"""Registry HTTP API under /v1."""

from uuid import UUID

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from services.registry import handlers
from services.registry.domain import FacilityKind, FacilityProfile
from services.registry.events import FacilityState
from shared.auth import CurrentPrincipal, Role
from shared.service import Context

router = APIRouter(prefix="/v1", tags=["facilities"])


class FacilityIn(BaseModel):
    legal_name: str = Field(min_length=2, max_length=300, examples=["Charité GMP Unit for Cell Therapy"])
    kind: FacilityKind
    country: str = Field(pattern=r"^[A-Z]{2}$", examples=["DE"])
    city: str = Field(min_length=1, max_length=120, examples=["Berlin"])
    address: str = Field(min_length=1, max_length=500)
    contact_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", examples=["qa@gmp.example.org"])
    authorisation_number: str = Field(min_length=1, max_length=100, examples=["DE_BE_01_MIA_2024_0042"])
    authorisation_authority: str = Field(min_length=2, max_length=40, examples=["DE-LAGeSo"])
    eudragmdp_ref: str | None = Field(default=None, max_length=100)


@router.post("/facilities", status_code=status.HTTP_201_CREATED, response_model=FacilityState,
             summary="Onboard a facility (admin)")  # fmt: skip
async def register_facility(body: FacilityIn, principal: CurrentPrincipal, context: Context) -> FacilityState:
    principal.require_role(Role.ADMIN)
    profile = FacilityProfile(**body.model_dump())
    async with context.db.unit_of_work(principal.actor) as uow:
        facility = await handlers.register_facility(uow, profile)
        await uow.commit()
    return handlers.facility_state(facility)


@router.get("/facilities/{facility_id}", response_model=FacilityState, summary="Read a facility")
async def read_facility(facility_id: UUID, principal: CurrentPrincipal, context: Context) -> FacilityState:
    async with context.db.unit_of_work(principal.actor) as uow:
        return handlers.facility_state(await handlers.get_facility(uow, facility_id))

"""Materials HTTP API under /v1: shortages, with the alternatives and where stock of them is."""

from functools import partial
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from services.materials import queries, shortages
from services.materials.api_catalogue import material_out, qualified
from services.materials.domain import ShortageStatus
from services.materials.models import Shortage
from services.materials.schemas import (
    AlternativeWithStock,
    ShortageDetail,
    ShortageIn,
    ShortageOut,
    ShortagePatch,
    ShortageResolve,
    StockOut,
)
from shared.auth import CurrentPrincipal, Principal, Role
from shared.problems import Forbidden, Unprocessable
from shared.service import Context

router = APIRouter(prefix="/v1", tags=["shortages"])


def out(s: Shortage) -> ShortageOut:
    return ShortageOut.model_validate(s, from_attributes=True)


def may_change(principal: Principal, shortage: Shortage) -> None:
    """Regulators and the operator curate any shortage; a facility the ones it reported."""
    principal.require_role(Role.FACILITY, Role.REGULATOR)
    if principal.role is Role.FACILITY:
        if shortage.reported_by_facility_id is None:
            raise Forbidden("This shortage was declared by a regulator or the operator; only they may change it.")
        principal.require_facility(str(shortage.reported_by_facility_id))


@router.post("/shortages", status_code=status.HTTP_201_CREATED, response_model=ShortageOut,
             summary="Declare a shortage of a material (facility, regulator, admin)")  # fmt: skip
async def declare_shortage(body: ShortageIn, principal: CurrentPrincipal, context: Context) -> ShortageOut:
    principal.require_role(Role.FACILITY, Role.REGULATOR)
    if principal.role is Role.FACILITY:
        if body.facility_id is None:
            raise Unprocessable("A facility user declares a shortage for one of its facilities: give facility_id.")
        principal.require_facility(str(body.facility_id))
    async with context.db.unit_of_work(principal.actor) as uow:
        shortage = await shortages.declare(
            uow, body.material_id, body.severity, body.expected_end, body.regions, body.reason, body.facility_id
        )
        await uow.commit()
    return out(shortage)


@router.get("/shortages", response_model=list[ShortageOut], summary="List shortages, newest first")
async def list_shortages(
    principal: CurrentPrincipal, context: Context, material_id: UUID | None = None,
    status: ShortageStatus | None = None,
    region: Annotated[str | None, Query(max_length=3, description="ISO country code, EU or EEA")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the material's name or the reason")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ShortageOut]:  # fmt: skip
    async with context.db.unit_of_work(principal.actor) as uow:
        return [out(s) for s in await queries.shortages(uow, material_id, status, region, q, limit, offset)]


@router.get("/shortages/{shortage_id}", response_model=ShortageDetail,
            summary="A shortage with the material's qualified alternatives and where stock of them is")  # fmt: skip
async def read_shortage(shortage_id: UUID, principal: CurrentPrincipal, context: Context) -> ShortageDetail:
    async with context.db.unit_of_work(principal.actor) as uow:
        record = await queries.shortage_record(uow, shortage_id)
        alternatives = [
            AlternativeWithStock(
                material=material_out(alt, alt_supplier),
                note=link.note,
                qualified=qualified(alt, alt_supplier),
                stock=[
                    StockOut.model_validate(s, from_attributes=True) for s in record.stock if s.material_id == alt.id
                ],
            )
            for link, alt, alt_supplier in record.alternatives
        ]
        alternatives.sort(key=lambda a: (not a.qualified, not a.stock))  # usable stand-ins first
        return ShortageDetail(
            **out(record.shortage).model_dump(), material=material_out(record.material, record.supplier),
            alternatives=alternatives,
        )  # fmt: skip


@router.patch("/shortages/{shortage_id}", response_model=ShortageOut,
              summary="Change a shortage's severity, expected end, regions or reason")  # fmt: skip
async def update_shortage(
    shortage_id: UUID, body: ShortagePatch, principal: CurrentPrincipal, context: Context
) -> ShortageOut:
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(k) is None for k in ("severity", "regions") if k in changes):
        raise Unprocessable("severity and regions cannot be cleared.")
    async with context.db.unit_of_work(principal.actor) as uow:
        shortage = await shortages.update(uow, shortage_id, changes, authorise=partial(may_change, principal))
        await uow.commit()
    return out(shortage)


@router.post("/shortages/{shortage_id}/resolve", response_model=ShortageOut, summary="Declare the shortage over")
async def resolve_shortage(
    shortage_id: UUID, body: ShortageResolve, principal: CurrentPrincipal, context: Context
) -> ShortageOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        shortage = await shortages.resolve(uow, shortage_id, body.note, authorise=partial(may_change, principal))
        await uow.commit()
    return out(shortage)


@router.get("/shortages/{shortage_id}/history", summary="Every change to a shortage, oldest first")
async def shortage_history(shortage_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.unit_of_work(principal.actor) as uow:
        return await queries.shortage_history(uow, shortage_id)

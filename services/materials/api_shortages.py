"""Materials HTTP API under /v1: shortages, with the alternatives and where stock of them is."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from services.materials import handlers, shortages
from services.materials.api import material_out, qualified
from services.materials.domain import ShortageStatus
from services.materials.models import Shortage, Supplier
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
from shared.database import event_history
from shared.errors import Forbidden, Unprocessable
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
) -> list[ShortageOut]:  # fmt: skip
    async with context.db.unit_of_work(principal.actor) as uow:
        return [out(s) for s in await shortages.list_shortages(uow, material_id, status, region)]


@router.get("/shortages/{shortage_id}", response_model=ShortageDetail,
            summary="A shortage with the material's qualified alternatives and where stock of them is")  # fmt: skip
async def read_shortage(shortage_id: UUID, principal: CurrentPrincipal, context: Context) -> ShortageDetail:
    async with context.db.unit_of_work(principal.actor) as uow:
        shortage = await shortages.get(uow, shortage_id)
        material = await handlers.get_material(uow, shortage.material_id)
        supplier = await uow.session.get(Supplier, material.supplier_id) if material.supplier_id else None
        alternatives = await handlers.alternatives_of(uow, [material.id])
        stock = await shortages.stock_of(uow, [alt.id for _, alt, _ in alternatives])
        alternatives_out = [
            AlternativeWithStock(
                material=material_out(alt, alt_supplier), note=link.note, qualified=qualified(alt, alt_supplier),
                stock=[StockOut(facility_id=s.facility_id, available=s.available, unit=s.unit, lots=s.lots,
                                earliest_expiry=s.earliest_expiry) for s in stock if s.material_id == alt.id],
            )
            for link, alt, alt_supplier in alternatives
        ]  # fmt: skip
        alternatives_out.sort(key=lambda a: (not a.qualified, not a.stock))  # usable stand-ins first
        return ShortageDetail(
            **out(shortage).model_dump(), material=material_out(material, supplier), alternatives=alternatives_out
        )


@router.patch("/shortages/{shortage_id}", response_model=ShortageOut,
              summary="Change a shortage's severity, expected end, regions or reason")  # fmt: skip
async def update_shortage(
    shortage_id: UUID, body: ShortagePatch, principal: CurrentPrincipal, context: Context
) -> ShortageOut:
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(k) is None for k in ("severity", "regions") if k in changes):
        raise Unprocessable("severity and regions cannot be cleared.")
    async with context.db.unit_of_work(principal.actor) as uow:
        shortage = await shortages.get(uow, shortage_id, for_update=True)
        may_change(principal, shortage)
        shortage = await shortages.update(uow, shortage, changes)
        await uow.commit()
    return out(shortage)


@router.post("/shortages/{shortage_id}/resolve", response_model=ShortageOut, summary="Declare the shortage over")
async def resolve_shortage(
    shortage_id: UUID, body: ShortageResolve, principal: CurrentPrincipal, context: Context
) -> ShortageOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        shortage = await shortages.get(uow, shortage_id, for_update=True)
        may_change(principal, shortage)
        shortage = await shortages.resolve(uow, shortage, body.note)
        await uow.commit()
    return out(shortage)


@router.get("/shortages/{shortage_id}/history", summary="Every change to a shortage, oldest first")
async def shortage_history(shortage_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.unit_of_work(principal.actor) as uow:
        await shortages.get(uow, shortage_id)
        return await event_history(uow.session, str(shortage_id))

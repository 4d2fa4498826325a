"""Materials HTTP API under /v1: supplier change notifications, recorded by the hub operator and
answered by each facility holding lots they touch."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from services.materials import queries, supplier_changes
from services.materials.api_catalogue import supplier_change_brief
from services.materials.schemas import (
    SupplierChangeAnswerIn,
    SupplierChangeBrief,
    SupplierChangeIn,
    SupplierChangeOut,
)
from services.materials.supplier_changes import bookings_holding, change_state
from shared.auth import CurrentPrincipal, Principal, Role
from shared.problems import Forbidden
from shared.service import Context

router = APIRouter(prefix="/v1", tags=["supplier changes"])


def sees_facility(principal: Principal, facility_id: UUID) -> bool:
    """Which facilities' answers and bookings a caller sees: regulators and the operator all, a
    facility user its own, a developer none (a facility's lots and reservations are its own)."""
    if principal.is_admin or principal.role is Role.REGULATOR:
        return True
    return principal.role is Role.FACILITY and str(facility_id) in principal.facility_ids


def change_out(principal: Principal, record: queries.SupplierChangeRecord) -> SupplierChangeOut:
    state = change_state(record.change, record.lots, record.facilities)
    return SupplierChangeOut(
        **state.model_dump(exclude={"facilities"}),
        facilities=[f for f in state.facilities if sees_facility(principal, f.facility_id)],
        bookings=bookings_holding([held for held in record.bookings if sees_facility(principal, held[2])]),
        outstanding_facilities=sum(f.outcome is None for f in record.facilities),
        created_at=record.change.created_at, created_by=record.change.created_by,
    )  # fmt: skip


async def _read(context: Context, principal: Principal, supplier_change_id: UUID) -> SupplierChangeOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        return change_out(principal, await queries.supplier_change_record(uow, supplier_change_id))


# The hub operator records: the hub has no supplier accounts (no "qualified contact" role), so a
# supplier's notification reaches it by mail or portal and the operator enters it.
@router.post("/supplier-changes", status_code=status.HTTP_201_CREATED, response_model=SupplierChangeOut,
             summary="Record a supplier change notification (admin): it reaches every facility holding affected lots")  # fmt: skip
async def record_supplier_change(
    body: SupplierChangeIn, principal: CurrentPrincipal, context: Context
) -> SupplierChangeOut:
    principal.require_role(Role.ADMIN)
    async with context.db.unit_of_work(principal.actor) as uow:
        change = await supplier_changes.record(
            uow, body.supplier_id, body.change_type, body.description, body.material_ids, body.effective_on,
            body.risk_class,
        )  # fmt: skip
        await uow.commit()
    return await _read(context, principal, change.id)


@router.get("/supplier-changes", response_model=list[SupplierChangeBrief],
            summary="Supplier change notifications, newest first; a facility finds those it must answer")  # fmt: skip
async def list_supplier_changes(
    principal: CurrentPrincipal,
    context: Context,
    material_id: UUID | None = None,
    supplier_id: UUID | None = None,
    facility_id: Annotated[UUID | None, Query(description="Those that reached this facility")] = None,
    outstanding: Annotated[bool | None, Query(description="Not yet answered (by `facility_id`, if given)")] = None,
) -> list[SupplierChangeBrief]:
    async with context.db.unit_of_work(principal.actor) as uow:
        found = await queries.supplier_changes(uow, material_id, supplier_id, facility_id, outstanding)
    return [supplier_change_brief(change, count) for change, count in found]


@router.get("/supplier-changes/{supplier_change_id}", response_model=SupplierChangeOut,
            summary="A supplier change: the facilities it reached (their answers) and the bookings holding affected lots")  # fmt: skip
async def read_supplier_change(
    supplier_change_id: UUID, principal: CurrentPrincipal, context: Context
) -> SupplierChangeOut:
    return await _read(context, principal, supplier_change_id)


@router.post("/supplier-changes/{supplier_change_id}/facilities/{facility_id}/answer", response_model=SupplierChangeOut,
             summary="The facility's assessed answer, once: accepted, or quarantine_lots (its affected lots)")  # fmt: skip
async def answer_supplier_change(
    supplier_change_id: UUID, facility_id: UUID, body: SupplierChangeAnswerIn, principal: CurrentPrincipal,
    context: Context,
) -> SupplierChangeOut:  # fmt: skip
    if principal.role is not Role.FACILITY:
        raise Forbidden("A facility answers a supplier change for itself (a facility user of that facility).")
    principal.require_facility(str(facility_id))
    async with context.db.unit_of_work(principal.actor) as uow:
        await supplier_changes.answer(uow, supplier_change_id, facility_id, body.outcome, body.assessment)
        await uow.commit()
    return await _read(context, principal, supplier_change_id)


@router.get("/supplier-changes/{supplier_change_id}/history", summary="Every event of a supplier change, oldest first")
async def supplier_change_history(
    supplier_change_id: UUID, principal: CurrentPrincipal, context: Context
) -> list[dict]:
    async with context.db.unit_of_work(principal.actor) as uow:
        return await queries.supplier_change_history(uow, supplier_change_id)

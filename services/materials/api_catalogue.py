"""Materials HTTP API under /v1: the catalogue (vocabularies, suppliers, materials, alternatives,
search, bulk import). Inventory and reservations are in api_inventory.py, shortages in api_shortages.py."""

import time
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, UploadFile, status

from services.materials import catalogue, domain, importing, queries
from services.materials.models import Material, Supplier, SupplierChange
from services.materials.schemas import (
    AlternativeIn,
    AlternativeOut,
    ImportOut,
    MaterialDetail,
    MaterialIn,
    MaterialOut,
    MaterialPage,
    MaterialPatch,
    Reason,
    SupplierBrief,
    SupplierChangeBrief,
    SupplierIn,
    SupplierOut,
    SupplierPatch,
)
from shared.auth import CurrentPrincipal, Role
from shared.problems import Unprocessable
from shared.service import Context

router = APIRouter(prefix="/v1")
MAX_IMPORT_BYTES = 50 * 1024 * 1024  # the import's body limit (main.py), beside the 1 MiB of every other route


def material_out(m: Material, supplier: Supplier | None, score: float | None = None) -> MaterialOut:
    brief = supplier and SupplierBrief(
        supplier_id=supplier.id, name=supplier.name, country=supplier.country,
        qualification_status=supplier.qualification_status,
    )  # fmt: skip
    return MaterialOut(
        material_id=m.id, supplier=brief, score=score,
        **m.model_dump(include=set(MaterialOut.model_fields) - {"material_id", "supplier", "score"}),
    )  # fmt: skip


def supplier_change_brief(change: SupplierChange, outstanding: int) -> SupplierChangeBrief:
    return SupplierChangeBrief(
        supplier_change_id=change.id, **change.model_dump(include={"change_type", "description", "effective_on",
        "risk_class"}), outstanding_facilities=outstanding,
    )  # fmt: skip


def qualified(m: Material, supplier: Supplier | None) -> bool:
    """Fit to stand in for a GMP material: not research-use-only, from a qualified supplier."""
    return (
        m.grade != domain.Grade.RESEARCH_USE_ONLY
        and supplier is not None
        and supplier.qualification_status == domain.QualificationStatus.QUALIFIED
    )


def alternatives_out(alternatives: list[queries.Alternative]) -> list[AlternativeOut]:
    return [
        AlternativeOut(material=material_out(alt, supplier), note=link.note, qualified=qualified(alt, supplier))
        for link, alt, supplier in alternatives
    ]


async def _history(context: Context, principal: CurrentPrincipal, key: UUID) -> list[dict]:
    async with context.db.unit_of_work(principal.actor) as uow:
        return await queries.history(uow, key)


# --- vocabularies -------------------------------------------------------------------------------


@router.get("/vocabularies", tags=["catalogue"], summary="The controlled vocabularies materials use")
async def vocabularies(principal: CurrentPrincipal) -> dict[str, list]:
    return {
        "category": [c.value for c in domain.Category],
        "grade": [g.value for g in domain.Grade],
        "usp1043_tier": list(domain.USP1043_TIERS),
        "origin": [o.value for o in domain.Origin],
        "qualification_status": [q.value for q in domain.QualificationStatus],
        "unit": list(domain.UNITS),
        "shortage_severity": [s.value for s in domain.Severity],
        "shortage_status": [s.value for s in domain.ShortageStatus],
        "reservation_status": [s.value for s in domain.ReservationStatus],
        "supplier_change_type": [t.value for t in domain.SupplierChangeType],
        "supplier_change_risk_class": [r.value for r in domain.RiskClass],
        "supplier_change_outcome": [o.value for o in domain.ChangeOutcome],
        "import_columns": list(importing.COLUMNS),
    }


# --- suppliers ----------------------------------------------------------------------------------


@router.post("/suppliers", status_code=status.HTTP_201_CREATED, response_model=SupplierOut, tags=["suppliers"],
             summary="Register a supplier (admin)")  # fmt: skip
async def register_supplier(body: SupplierIn, principal: CurrentPrincipal, context: Context) -> SupplierOut:
    principal.require_role(Role.ADMIN)
    async with context.db.unit_of_work(principal.actor) as uow:
        supplier = await catalogue.register_supplier(uow, body.name, body.country, body.qualification_status, body.note)
        await uow.commit()
    return SupplierOut.model_validate(supplier, from_attributes=True)


@router.get("/suppliers", response_model=list[SupplierOut], tags=["suppliers"], summary="List suppliers")
async def list_suppliers(
    principal: CurrentPrincipal, context: Context, country: str | None = None,
    qualification_status: domain.QualificationStatus | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the supplier's name, any case")] = None,
) -> list[SupplierOut]:  # fmt: skip
    async with context.db.unit_of_work(principal.actor) as uow:
        rows = await queries.suppliers(uow, country, qualification_status, q)
        return [SupplierOut.model_validate(s, from_attributes=True) for s in rows]


@router.get("/suppliers/{supplier_id}", response_model=SupplierOut, tags=["suppliers"], summary="Read a supplier")
async def read_supplier(supplier_id: UUID, principal: CurrentPrincipal, context: Context) -> SupplierOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        return SupplierOut.model_validate(await queries.supplier(uow, supplier_id), from_attributes=True)


@router.patch("/suppliers/{supplier_id}", response_model=SupplierOut, tags=["suppliers"],
              summary="Change a supplier's details or qualification status (admin)")  # fmt: skip
async def update_supplier(
    supplier_id: UUID, body: SupplierPatch, principal: CurrentPrincipal, context: Context
) -> SupplierOut:
    principal.require_role(Role.ADMIN)
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(k) is None for k in ("name", "country", "qualification_status") if k in changes):
        raise Unprocessable("name, country and qualification_status cannot be cleared.")
    async with context.db.unit_of_work(principal.actor) as uow:
        supplier = await catalogue.update_supplier(uow, supplier_id, changes)
        await uow.commit()
    return SupplierOut.model_validate(supplier, from_attributes=True)


@router.get("/suppliers/{supplier_id}/history", tags=["suppliers"], summary="Every change to a supplier, oldest first")
async def supplier_history(supplier_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    return await _history(context, principal, supplier_id)


# --- materials ----------------------------------------------------------------------------------


@router.post("/materials", status_code=status.HTTP_201_CREATED, response_model=MaterialOut, tags=["catalogue"],
             summary="Register a material with its quality attributes (admin)")  # fmt: skip
async def register_material(body: MaterialIn, principal: CurrentPrincipal, context: Context) -> MaterialOut:
    principal.require_role(Role.ADMIN)
    async with context.db.unit_of_work(principal.actor) as uow:
        material, supplier = await catalogue.register_material(uow, body.entry())
        await uow.commit()
        return material_out(material, supplier)


@router.get("/materials", response_model=MaterialPage, tags=["catalogue"],
            summary="Search the catalogue: typo-tolerant text, filters, pages")  # fmt: skip
async def search_materials(
    principal: CurrentPrincipal,
    context: Context,
    q: Annotated[str | None, Query(max_length=200, description="Free text; typos tolerated")] = None,
    category: Annotated[list[domain.Category] | None, Query()] = None,
    grade: Annotated[list[domain.Grade] | None, Query()] = None,
    usp1043_tier: Annotated[list[int] | None, Query()] = None,
    origin: Annotated[list[domain.Origin] | None, Query()] = None,
    origin_species: str | None = None,
    supplier_id: UUID | None = None,
    supplier_country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    supplier_qualification: Annotated[list[domain.QualificationStatus] | None, Query()] = None,
    catalogue_number: str | None = None,
    substance_id: Annotated[
        str | None, Query(max_length=40, description="An EMA SMS substance id or an FDA UNII, as stored")
    ] = None,
    ph_eur_5_2_12: bool | None = None,
    has_coa: bool | None = None,
    has_dmf_cep: bool | None = None,
    has_regulatory_support_file: bool | None = None,
    tse_bse_statement: bool | None = None,
    retired: Annotated[bool | None, Query(description="false (default): in use; true: retired only")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> MaterialPage:
    filters = queries.MaterialFilters(
        category=category, grade=grade, usp1043_tier=usp1043_tier, origin=origin, origin_species=origin_species,
        supplier_id=supplier_id, supplier_country=supplier_country, supplier_qualification=supplier_qualification,
        catalogue_number=catalogue_number, substance_id=substance_id, ph_eur_5_2_12=ph_eur_5_2_12, has_coa=has_coa, has_dmf_cep=has_dmf_cep,
        has_regulatory_support_file=has_regulatory_support_file, tse_bse_statement=tse_bse_statement, retired=retired,
    )  # fmt: skip
    async with context.db.unit_of_work(principal.actor) as uow:
        rows, total = await queries.search_materials(uow, q, filters, limit, offset)
        items = [material_out(m, s, score) for m, s, score in rows]  # before the read-only transaction ends
    return MaterialPage(total=total, limit=limit, offset=offset, items=items)


# `:uuid`: /materials/import is not a material (a PATCH to it is answered 405, not 422).
@router.get("/materials/{material_id:uuid}", response_model=MaterialDetail, tags=["catalogue"],
            summary="Read a material with its alternatives and the supplier changes naming it")  # fmt: skip
async def read_material(material_id: UUID, principal: CurrentPrincipal, context: Context) -> MaterialDetail:
    async with context.db.unit_of_work(principal.actor) as uow:
        record = await queries.material_record(uow, material_id)
        out = material_out(record.material, record.supplier)
        changes = await queries.supplier_changes(uow, material_id, None, None, None)
        return MaterialDetail(
            **out.model_dump(), alternatives=alternatives_out(record.alternatives),
            supplier_changes=[supplier_change_brief(c, outstanding) for c, outstanding in changes],
        )  # fmt: skip


@router.patch("/materials/{material_id:uuid}", response_model=MaterialOut, tags=["catalogue"],
              summary="Change a material's entry or quality attributes, or retire it (admin)")  # fmt: skip
async def update_material(
    material_id: UUID, body: MaterialPatch, principal: CurrentPrincipal, context: Context
) -> MaterialOut:
    principal.require_role(Role.ADMIN)
    async with context.db.unit_of_work(principal.actor) as uow:
        material, supplier = await catalogue.update_material(uow, material_id, body.revise, body.retired)
        await uow.commit()
        return material_out(material, supplier)


@router.get("/materials/{material_id}/history", tags=["catalogue"],
            summary="Every change to a material and its alternatives, oldest first")  # fmt: skip
async def material_history(material_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    return await _history(context, principal, material_id)


@router.get("/materials/{material_id}/alternatives", response_model=list[AlternativeOut], tags=["catalogue"],
            summary="The qualified equivalents a material names, with what differs")  # fmt: skip
async def list_alternatives(material_id: UUID, principal: CurrentPrincipal, context: Context) -> list[AlternativeOut]:
    async with context.db.unit_of_work(principal.actor) as uow:
        return alternatives_out(await queries.alternatives(uow, material_id))


@router.put("/materials/{material_id}/alternatives", response_model=list[AlternativeOut], tags=["catalogue"],
            summary="Name an equivalent of a material, with a note on what differs (admin)")  # fmt: skip
async def name_alternative(
    material_id: UUID, body: AlternativeIn, principal: CurrentPrincipal, context: Context
) -> list[AlternativeOut]:
    principal.require_role(Role.ADMIN)
    async with context.db.unit_of_work(principal.actor) as uow:
        await catalogue.name_alternative(uow, material_id, body.alternative_id, body.note)
        await uow.commit()
        return alternatives_out(await queries.alternatives(uow, material_id))  # the list as it is now


@router.post("/materials/{material_id}/alternatives/{alternative_id}/withdraw", response_model=list[AlternativeOut],
             tags=["catalogue"], summary="Stop naming an equivalent, with a reason (admin)")  # fmt: skip
async def withdraw_alternative(
    material_id: UUID, alternative_id: UUID, body: Reason, principal: CurrentPrincipal, context: Context
) -> list[AlternativeOut]:
    principal.require_role(Role.ADMIN)
    async with context.db.unit_of_work(principal.actor) as uow:
        await catalogue.withdraw_alternative(uow, material_id, alternative_id, body.reason)
        await uow.commit()
        return alternatives_out(await queries.alternatives(uow, material_id))  # the list as it is now


# --- bulk import --------------------------------------------------------------------------------


@router.post("/materials/import", response_model=ImportOut, tags=["catalogue"],
             summary="Bulk-import materials from CSV (admin); bad rows reported by line")  # fmt: skip
async def import_materials(
    file: UploadFile,
    principal: CurrentPrincipal,
    context: Context,
    dry_run: Annotated[bool, Query(description="Validate and report only; write nothing")] = False,
) -> ImportOut:
    principal.require_role(Role.ADMIN)
    started = time.perf_counter()
    raw = await file.read()  # at most MAX_IMPORT_BYTES: the request guard counted the body as it came
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable(f"The file is not UTF-8 text (byte {exc.start}).") from None
    async with context.db.unit_of_work(principal.actor) as uow:
        report = await importing.import_csv(uow, text, dry_run=dry_run)
        if not dry_run:
            await uow.commit()
    return ImportOut(
        rows=report.rows, imported=report.imported, dry_run=dry_run,
        rejected=[{"line": r.line, "reason": r.reason} for r in report.rejected],
        seconds=round(time.perf_counter() - started, 3),
    )  # fmt: skip

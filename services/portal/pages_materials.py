"""The catalogue for everyone signed in (journey 5): search with the quality attributes, a
material with its alternatives and shortages, and where it and its alternatives are stocked; and a
facility's inventory (journey 10): lots with expiring ones marked, count corrections with a
reason, what is reserved for which booking, declaring a shortage."""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.portal.hub import Api, ServiceProblem
from services.portal.session import CurrentUser, FacilityUser, check_csrf
from services.portal.web import Outcome, UserApi, attempt, is_htmx, render

router = APIRouter(dependencies=[Depends(check_csrf)])
EXPIRING_DAYS = 60  # a lot expiring this soon is marked on the inventory page


@dataclass
class Stocking:
    """Where materials are stocked on the hub (materials' per-facility read, no lots), by material
    id, and the names of the facilities holding them; a facility registry did not name stays its id."""

    stock: dict[str, Outcome[list[dict[str, Any]]]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    names_problem: ServiceProblem | None = None


async def facility_names(api: Api, facility_ids: set[str]) -> tuple[dict[str, str], ServiceProblem | None]:
    """The facilities' legal names: registry's first page of facilities (deactivated ones too), then
    each one it did not hold read on its own (a hub of more than a page)."""
    if not facility_ids:
        return {}, None
    listed = await attempt(api.get("registry", "/v1/facilities", page_size=100, include_inactive="true"))
    names = {f["facility_id"]: f["legal_name"] for f in (listed.value or {}).get("items", [])}
    if listed.problem:
        return names, listed.problem
    missing = sorted(facility_ids - names.keys())
    read = await asyncio.gather(*(attempt(api.get("registry", f"/v1/facilities/{f}")) for f in missing))
    names |= {f: r.value["legal_name"] for f, r in zip(missing, read, strict=True) if r.value}
    return names, next((r.problem for r in read if r.problem), None)


async def where_stocked(api: Api, material_ids: Iterable[str]) -> Stocking:
    """Where each material is stocked, with the facilities named; no call at all for no material."""
    ids = list(dict.fromkeys(material_ids))
    found = await asyncio.gather(*(attempt(api.get("materials", f"/v1/materials/{m}/stock")) for m in ids))
    stock = dict(zip(ids, found, strict=True))
    names, problem = await facility_names(api, {s["facility_id"] for o in found for s in o.value or []})
    return Stocking(stock, names, problem)


@router.get("/materials")
async def catalogue(
    request: Request,
    user: CurrentUser,
    api: UserApi,
    q: str | None = None,
    category: str | None = None,
    grade: str | None = None,
    origin: str | None = None,
) -> Response:
    chosen = {"q": q, "category": category, "grade": grade, "origin": origin}
    found, shortages = await asyncio.gather(
        attempt(api.get("materials", "/v1/materials", **chosen, limit=50)),
        attempt(api.get("materials", "/v1/shortages", status="active")),
    )
    short = {s["material_id"]: s for s in shortages.value or []}
    context: dict[str, Any] = {"found": found, "short": short, "chosen": chosen}
    if is_htmx(request) and request.headers.get("hx-target") == "material-results":
        return render(request, "materials_results.html", **context)
    vocabularies = await attempt(api.get("materials", "/v1/vocabularies"))
    return render(request, "materials.html", vocabularies=vocabularies, **context)


@router.get("/materials/{material_id}")
async def material(request: Request, material_id: str, user: CurrentUser, api: UserApi) -> Response:
    found, shortages = await asyncio.gather(
        attempt(api.get("materials", f"/v1/materials/{material_id}")),
        attempt(api.get("materials", "/v1/shortages", material_id=material_id, status="active")),
    )
    alternatives = [a["material"]["material_id"] for a in (found.value or {}).get("alternatives", [])]
    stocking, details = await asyncio.gather(
        where_stocked(api, [material_id, *alternatives] if found.value else []),
        asyncio.gather(
            *(attempt(api.get("materials", f"/v1/shortages/{s['shortage_id']}")) for s in shortages.value or [])
        ),
    )
    # A shortage names its material's alternatives, so their stocking facilities are among these.
    return render(request, "material.html", found=found, shortages=shortages, details=details, stocking=stocking,
                  names=stocking.names)  # fmt: skip


# --- a facility's inventory ----------------------------------------------------------------------


async def _inventory(api: Api, facility_id: str) -> dict[str, Any]:
    lots, reservations, catalogue = await asyncio.gather(
        attempt(api.get("materials", f"/v1/facilities/{facility_id}/lots", include_expired="true")),
        attempt(api.get("materials", f"/v1/facilities/{facility_id}/reservations")),
        attempt(api.get("materials", "/v1/materials", limit=200)),
    )
    names = {m["material_id"]: m["name"] for m in (catalogue.value or {}).get("items", [])}
    lot_numbers = {lot["lot_id"]: lot["lot_number"] for lot in lots.value or []}
    today = date.today()
    for lot in lots.value or []:
        lot["days_left"] = (date.fromisoformat(lot["expires_on"]) - today).days
    return {"lots": lots, "reservations": reservations, "catalogue": catalogue, "names": names,
            "lot_numbers": lot_numbers, "expiring_days": EXPIRING_DAYS}  # fmt: skip


@router.get("/facility/inventory")
async def inventory(request: Request, user: FacilityUser, api: UserApi) -> Response:
    view, vocabularies = await asyncio.gather(
        _inventory(api, str(user.facility_id)), attempt(api.get("materials", "/v1/vocabularies"))
    )
    return render(request, "inventory.html", vocabularies=vocabularies, today=date.today().isoformat(), **view)


async def _answer(request: Request, api: Api, user: FacilityUser, call: Any, done: str) -> Response:
    """Do `call`, then show the inventory as it now is, with what happened or why not."""
    problem = None
    try:
        await call
    except ServiceProblem as refused:
        problem, done = refused, ""
    view = await _inventory(api, str(user.facility_id))
    return render(request, "inventory_lots.html", problem=problem, done=done, **view)


@router.post("/facility/lots")
async def record_lot(request: Request, user: FacilityUser, api: UserApi) -> Response:
    form = await request.form()
    body = {k: str(form.get(k) or "").strip() for k in ("material_id", "lot_number", "expires_on", "quantity", "unit")}
    call = api.post("materials", f"/v1/facilities/{user.facility_id}/lots", body)
    return await _answer(request, api, user, call, f"Lot {body['lot_number']} recorded.")


@router.post("/facility/lots/{lot_id}/count")
async def count_lot(request: Request, lot_id: str, user: FacilityUser, api: UserApi) -> Response:
    form = await request.form()
    body = {"quantity": str(form.get("quantity") or ""), "reason": str(form.get("reason") or "").strip()}
    call = api.post("materials", f"/v1/lots/{lot_id}/count", body)
    return await _answer(request, api, user, call, "The count is corrected.")


@router.post("/facility/shortages")
async def declare_shortage(request: Request, user: FacilityUser, api: UserApi) -> Response:
    form = await request.form()
    body = {
        "material_id": form.get("material_id"),
        "severity": form.get("severity"),
        "regions": [r.strip().upper() for r in str(form.get("regions") or "").split(",") if r.strip()],
        "expected_end": form.get("expected_end") or None,
        "reason": str(form.get("reason") or "").strip() or None,
        "facility_id": user.facility_id,
    }
    call = api.post("materials", "/v1/shortages", body)
    return await _answer(request, api, user, call, "The shortage is declared; bookings needing it are flagged.")

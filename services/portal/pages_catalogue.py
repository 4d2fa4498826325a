"""The hub operator's catalogue (journey 8): registering suppliers and materials with their quality
attributes, naming a material's alternative with what differs, and importing a CSV of materials:
the browser shows the upload's progress, then the materials service's summary with the rejected
rows (line and reason). The service answers only once it has checked every row, so the bar is the
upload's, and the page says the checking comes after it."""

import asyncio
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.portal.hub import Api, ServiceProblem
from services.portal.pages_operator import Admin
from services.portal.session import check_csrf
from services.portal.web import UserApi, attempt, is_htmx, render

router = APIRouter(prefix="/operator/catalogue", dependencies=[Depends(check_csrf)])
CHOICES = 200  # materials offered in the alternative's lists (the API's largest page)
SHOWN_REJECTIONS = 500  # rejected rows listed; the count says how many there were
IMPORT_TIMEOUT_SECONDS = 300.0  # 100,000 rows take seconds to check and write, not the usual 5
OPTIONAL = ("catalogue_number", "origin_species", "tse_bse_statement", "coa_reference", "dmf_cep_reference")


async def _catalogue(request: Request, api: Api, **extra: Any) -> Response:
    suppliers, vocabularies, materials = await asyncio.gather(
        attempt(api.get("materials", "/v1/suppliers")),
        attempt(api.get("materials", "/v1/vocabularies")),
        attempt(api.get("materials", "/v1/materials", limit=CHOICES)),
    )
    context: dict[str, Any] = {"suppliers": suppliers, "vocabularies": vocabularies, "materials": materials, "form": {}}
    context |= extra
    return render(request, "operator_catalogue.html", **context)


@router.get("")
async def catalogue(
    request: Request, user: Admin, api: UserApi, done: str | None = None, material: str | None = None
) -> Response:
    return await _catalogue(request, api, done=done, link_to=material)


async def _then(request: Request, api: Api, call: Any, done: str, form: dict[str, Any], **shown: str) -> Response:
    """Do `call`; back to the page saying what happened (a new GET: a reload repeats nothing), or
    the page again with the service's refusal beside the form as it was filled in."""
    try:
        await call
    except ServiceProblem as problem:
        return await _catalogue(request, api, problem=problem, form=form)
    return RedirectResponse(f"/operator/catalogue?{urlencode({'done': done, **shown})}", status_code=303)


@router.post("/suppliers")
async def register_supplier(request: Request, user: Admin, api: UserApi) -> Response:
    form = await request.form()
    body = {
        "name": str(form.get("name") or "").strip(),
        "country": str(form.get("country") or "").strip().upper(),
        "qualification_status": form.get("qualification_status"),
        "note": str(form.get("note") or "").strip() or None,
    }
    call = api.post("materials", "/v1/suppliers", body)
    return await _then(request, api, call, f"Supplier {body['name']} is registered.", {"supplier": body})


def material_of(form: Any) -> dict[str, Any]:
    """The form as the materials API's entry: empty fields left out, synonyms split at ; or ,."""
    body: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in ("name", "category", "grade", "origin")}
    body |= {k: value for k in OPTIONAL if (value := str(form.get(k) or "").strip())}
    synonyms = str(form.get("synonyms") or "").replace(",", ";").split(";")
    body["synonyms"] = [s.strip() for s in synonyms if s.strip()]
    body["supplier_id"] = form.get("supplier_id") or None
    body["usp1043_tier"] = form.get("usp1043_tier") or None
    body["ph_eur_5_2_12"] = form.get("ph_eur_5_2_12") == "on"
    return body


@router.post("/materials")
async def register_material(request: Request, user: Admin, api: UserApi) -> Response:
    body = material_of(await request.form())
    try:
        material = await api.post("materials", "/v1/materials", body)
    except ServiceProblem as problem:
        return await _catalogue(request, api, problem=problem, form={"material": body})
    query = urlencode({"done": f"{material['name']} is registered.", "material": material["material_id"]})
    return RedirectResponse(f"/operator/catalogue?{query}", status_code=303)


@router.post("/alternatives")
async def name_alternative(request: Request, user: Admin, api: UserApi) -> Response:
    form = await request.form()
    material_id = str(form.get("material_id") or "")
    body = {"alternative_id": form.get("alternative_id"), "note": str(form.get("note") or "").strip()}
    call = api.send("PUT", "materials", f"/v1/materials/{material_id}/alternatives", body, None)
    alternative = {"material_id": material_id, **body}
    done = "The alternative is named; the material's page lists it."
    return await _then(request, api, call, done, {"alternative": alternative}, material=material_id)


# --- bulk import ---------------------------------------------------------------------------------


@router.get("/import")
async def import_page(request: Request, user: Admin, api: UserApi) -> Response:
    vocabularies = await attempt(api.get("materials", "/v1/vocabularies"))
    return render(request, "operator_import.html", vocabularies=vocabularies, report=None, problem=None, unchosen=False)


@router.post("/import")
async def import_materials(request: Request, user: Admin, api: UserApi) -> Response:
    """Forward the file to the materials service and show its summary: with htmx the part below the
    form (its upload's progress already shown), without it the whole page."""
    form = await request.form()
    upload = form.get("file")
    dry_run = form.get("dry_run") == "on"
    report, problem, unchosen = None, None, False
    if not isinstance(upload, UploadFile) or not upload.filename:
        unchosen = True  # the browser asks for one first; without it, the page says so
    else:
        files = {"file": (upload.filename, await upload.read(), "text/csv")}
        try:
            answer = await api.hub.request(
                "materials", "POST", "/v1/materials/import", api.token,
                files=files, params={"dry_run": str(dry_run).lower()}, timeout=IMPORT_TIMEOUT_SECONDS,
            )  # fmt: skip
            report = answer.json() | {"file": upload.filename}
        except ServiceProblem as refused:
            problem = refused
    context: dict[str, Any] = {"report": report, "problem": problem, "unchosen": unchosen, "shown": SHOWN_REJECTIONS}
    if is_htmx(request):
        return render(request, "operator_import_report.html", **context)
    vocabularies = await attempt(api.get("materials", "/v1/vocabularies"))
    return render(request, "operator_import.html", vocabularies=vocabularies, **context)

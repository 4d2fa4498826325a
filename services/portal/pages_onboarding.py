"""The hub operator's facilities (journey 7): the registry's facilities, deactivated ones included;
onboarding one with its manufacturing authorisation; deactivating and reactivating it with a reason,
which the facility's history keeps beside who did it and when."""

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.hub import Api, ServiceProblem
from services.portal.pages_operator import Admin
from services.portal.session import check_csrf
from services.portal.web import UserApi, attempt, render

router = APIRouter(prefix="/operator/facilities", dependencies=[Depends(check_csrf)])
PROFILE = (
    "legal_name", "kind", "country", "city", "address", "contact_email", "authorisation_number",
    "authorisation_authority", "eudragmdp_ref",
)  # fmt: skip
ACTIONS = {"deactivate": "deactivated", "reactivate": "reactivated"}


async def _facilities(request: Request, api: Api, q: str | None = None, **extra: Any) -> Response:
    found, vocabularies = await asyncio.gather(
        attempt(api.get("registry", "/v1/facilities", q=q, include_inactive="true", page_size=100)),
        attempt(api.get("registry", "/v1/vocabularies")),
    )
    context: dict[str, Any] = {"found": found, "vocabularies": vocabularies, "q": q, "form": {}} | extra
    return render(request, "operator_facilities.html", **context)


@router.get("")
async def facilities(request: Request, user: Admin, api: UserApi, q: str | None = None) -> Response:
    return await _facilities(request, api, q)


def profile_of(form: Any) -> dict[str, str | None]:
    """The form as registry's onboarding body: trimmed, the country in capitals, no empty reference."""
    body: dict[str, str | None] = {k: str(form.get(k) or "").strip() for k in PROFILE}
    body["country"] = str(body["country"]).upper()
    body["eudragmdp_ref"] = body["eudragmdp_ref"] or None
    return body


@router.post("")
async def onboard(request: Request, user: Admin, api: UserApi) -> Response:
    body = profile_of(await request.form())
    try:
        facility = await api.post("registry", "/v1/facilities", body)
    except ServiceProblem as problem:
        return await _facilities(request, api, problem=problem, form=body)  # what was typed stays
    done = quote(f"{facility['legal_name']} is onboarded.")
    return RedirectResponse(f"/operator/facilities/{facility['facility_id']}?done={done}", status_code=303)


async def _facility(request: Request, facility_id: str, api: Api, **extra: Any) -> Response:
    facility, history = await asyncio.gather(
        attempt(api.get("registry", f"/v1/facilities/{facility_id}")),
        attempt(api.get("registry", f"/v1/facilities/{facility_id}/history")),
    )
    if facility.problem:
        raise facility.problem
    return render(request, "operator_facility.html", f=facility.value, history=history, **extra)


@router.get("/{facility_id}")
async def facility(request: Request, facility_id: str, user: Admin, api: UserApi, done: str | None = None) -> Response:
    return await _facility(request, facility_id, api, done=done)


@router.post("/{facility_id}/{action}")
async def set_active(request: Request, facility_id: str, action: str, user: Admin, api: UserApi) -> Response:
    """Deactivate or reactivate, based on the version the page showed (If-Match): a facility
    changed meanwhile is shown again rather than switched on what the operator did not see."""
    if action not in ACTIONS:
        return render(request, "problem.html", status_code=404, title="Not found", detail="No such action.")
    form = await request.form()
    body = {"reason": str(form.get("reason") or "").strip()}
    headers = {"If-Match": f'"{form.get("version")}"'}
    try:
        await api.post("registry", f"/v1/facilities/{facility_id}/{action}", body, headers=headers)
    except ServiceProblem as problem:
        return await _facility(request, facility_id, api, problem=problem, reason=body["reason"])
    done = quote(f"The facility is {ACTIONS[action]}.")
    return RedirectResponse(f"/operator/facilities/{facility_id}?done={done}", status_code=303)

"""A facility's profile and suites (journey 7): the profile's contact details changed with the
version it was read at (If-Match, so two people's edits never overwrite each other), suites added
with capabilities picked from registry's controlled vocabularies, suites retired with a reason."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.hub import Api, ServiceProblem
from services.portal.session import FacilityUser, check_csrf
from services.portal.web import UserApi, attempt, render

router = APIRouter(prefix="/facility", dependencies=[Depends(check_csrf)])
PROFILE_FIELDS = ("contact_email", "address", "city")
CAPABILITIES = ("atmp_types", "processes", "qc_tests")


async def _page(request: Request, user: FacilityUser, api: Api, **extra: Any) -> Response:
    facility, vocabularies = await asyncio.gather(
        attempt(api.get("registry", f"/v1/facilities/{user.facility_id}")),
        attempt(api.get("registry", "/v1/vocabularies")),
    )
    return render(request, "facility_profile.html", facility=facility, vocabularies=vocabularies, **extra)


@router.get("/profile")
async def profile(request: Request, user: FacilityUser, api: UserApi, done: str | None = None) -> Response:
    return await _page(request, user, api, done=done)


async def _then(request: Request, user: FacilityUser, api: Api, call: Any, done: str) -> Response:
    """Do `call`; back to the page saying what happened (a new GET, so a reload repeats nothing), or why not."""
    try:
        await call
    except ServiceProblem as problem:
        return await _page(request, user, api, problem=problem)
    return RedirectResponse(f"/facility/profile?done={done}", status_code=303)


@router.post("/profile")
async def change_profile(request: Request, user: FacilityUser, api: UserApi) -> Response:
    form = await request.form()
    changes = {k: str(form.get(k) or "").strip() for k in PROFILE_FIELDS}
    headers = {"If-Match": f'"{form.get("version")}"'}
    call = api.patch("registry", f"/v1/facilities/{user.facility_id}", changes, headers=headers)
    return await _then(request, user, api, call, "The profile is saved.")


@router.post("/suites")
async def add_suite(request: Request, user: FacilityUser, api: UserApi) -> Response:
    form = await request.form()
    body: dict[str, Any] = {k: [str(v) for v in form.getlist(k)] for k in CAPABILITIES}
    body |= {
        "name": str(form.get("name") or "").strip(),
        "cleanroom_grade": form.get("cleanroom_grade"),
        "qp_release": form.get("qp_release") == "on",
        "description": str(form.get("description") or "").strip() or None,
    }
    call = api.post("registry", f"/v1/facilities/{user.facility_id}/suites", body)
    return await _then(request, user, api, call, f"Suite {body['name']} is added.")


@router.post("/suites/{suite_id}/retire")
async def retire_suite(request: Request, suite_id: str, user: FacilityUser, api: UserApi) -> Response:
    form = await request.form()
    body = {"reason": str(form.get("reason") or "").strip()}
    call = api.post("registry", f"/v1/facilities/{user.facility_id}/suites/{suite_id}/retire", body)
    return await _then(request, user, api, call, "The suite is retired.")

"""A developer's waitlist (journey 4): joined from a search that found nothing, with that
search's criteria; the entries polled while waiting, so the offer (a hold on a matching slot,
given to the first in line when a facility publishes one) shows up without a reload."""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.hub import ServiceProblem
from services.portal.session import Developer, check_csrf
from services.portal.web import UserApi, attempt, is_htmx, render

router = APIRouter(dependencies=[Depends(check_csrf)])
CRITERIA = ("country", "atmp_type", "process", "cleanroom_grade")


@router.post("/waitlist")
async def join(request: Request, user: Developer, api: UserApi) -> Response:
    form = await request.form()
    body = {k: str(form.get(k) or "") or None for k in CRITERIA}
    body |= {
        "product": str(form.get("product") or "").strip(),
        "run_kind": str(form.get("run_kind") or "development"),
        "earliest_start": f"{form['starts_from']}T00:00:00Z" if form.get("starts_from") else None,
        "latest_end": f"{form['ends_before']}T00:00:00Z" if form.get("ends_before") else None,
    }
    try:
        await api.post("scheduling", "/v1/waitlist", body)
    except ServiceProblem as problem:
        return await _page(request, api, problem=problem)
    return RedirectResponse("/waitlist", status_code=303)


async def _page(request: Request, api: UserApi, **extra: Any) -> Response:
    entries = await attempt(api.get("scheduling", "/v1/waitlist"))
    waiting = any(e["status"] == "waiting" for e in entries.value or [])
    template = "waitlist_entries.html" if is_htmx(request) else "waitlist.html"
    return render(request, template, entries=entries, waiting=waiting, **extra)


@router.get("/waitlist")
async def waitlist(request: Request, user: Developer, api: UserApi) -> Response:
    return await _page(request, api)


@router.post("/waitlist/{entry_id}/leave")
async def leave(request: Request, entry_id: str, user: Developer, api: UserApi) -> Response:
    problem = None
    try:
        await api.post("scheduling", f"/v1/waitlist/{entry_id}/leave")
    except ServiceProblem as refused:
        problem = refused
    return await _page(request, api, problem=problem)

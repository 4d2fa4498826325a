"""A facility's pages: publish capacity (a window or a weekly slot, previewed before it is
published), block, reopen and withdraw slots, and the bookings at the facility (complete a run,
cancel with a reason)."""

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.portal import preview
from services.portal.hub import Api, ServiceProblem
from services.portal.session import FacilityUser, check_csrf
from services.portal.web import UserApi, attempt, render

router = APIRouter(prefix="/facility", dependencies=[Depends(check_csrf)])
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SLOT_ACTIONS = {"block": "Blocked", "reopen": "Reopened", "withdraw": "Withdrew"}


def _moment(value: Any) -> datetime:
    """A `datetime-local` field, read as UTC (the pages say so)."""
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


async def _slots(api: Api, facility_id: str) -> Any:
    return await api.get(
        "scheduling", f"/v1/facilities/{facility_id}/slots", starts_from=datetime.now(UTC).isoformat(), limit=300
    )


@router.get("/capacity")
async def capacity(request: Request, user: FacilityUser, api: UserApi, view: str = "list") -> Response:
    facility, slots = await asyncio.gather(
        attempt(api.get("registry", f"/v1/facilities/{user.facility_id}")), attempt(_slots(api, str(user.facility_id)))
    )
    suites = [s for s in (facility.value or {}).get("suites", []) if not s.get("retired")]
    return render(
        request, "facility_capacity.html", facility=facility, suites=suites, slots=slots, weekdays=WEEKDAYS,
        today=date.today().isoformat(), view=view,
    )  # fmt: skip


@router.post("/capacity/preview")
async def preview_capacity(request: Request, user: FacilityUser) -> Response:
    form = await request.form()
    try:
        if form.get("shape") == "weekly":
            weekdays = {int(str(d)) for d in form.getlist("weekday")}
            periods = preview.weekly(
                _moment(form["starts_at"]), _moment(form["ends_at"]), date.fromisoformat(str(form["until"])), weekdays
            )
        else:
            periods = preview.window(
                _moment(form["starts_at"]), _moment(form["ends_at"]),
                int(float(str(form["slot_hours"])) * 60), int(float(str(form.get("gap_hours") or 0)) * 60),
            )  # fmt: skip
    except (KeyError, ValueError) as exc:
        message = str(exc) if isinstance(exc, ValueError) and " " in str(exc) else "Fill in every field of the form."
        return render(request, "capacity_preview.html", error=message)
    return render(request, "capacity_preview.html", periods=periods, suite_id=form.get("suite_id"))


@router.post("/capacity/publish")
async def publish_capacity(request: Request, user: FacilityUser, api: UserApi) -> Response:
    form = await request.form()
    starts, ends = form.getlist("starts_at"), form.getlist("ends_at")
    body = {
        "suite_id": form.get("suite_id"),
        "slots": [{"starts_at": s, "ends_at": e} for s, e in zip(starts, ends, strict=True)],
    }
    try:
        published = await api.post("scheduling", f"/v1/facilities/{user.facility_id}/capacity", body)
    except ServiceProblem as problem:
        return render(request, "capacity_preview.html", problem=problem)
    response = render(request, "capacity_preview.html", published=published)
    response.headers["HX-Trigger"] = "slots-changed"
    return response


@router.get("/slots")
async def slot_table(request: Request, user: FacilityUser, api: UserApi, view: str = "list") -> Response:
    return render(request, "facility_slots.html", slots=await attempt(_slots(api, str(user.facility_id))), view=view)


@router.post("/slots/{action}")
async def change_slots(request: Request, action: str, user: FacilityUser, api: UserApi) -> Response:
    form = await request.form()
    slot_ids = form.getlist("slot_id")
    problem, done = None, None
    if action not in SLOT_ACTIONS:
        problem = ServiceProblem("portal", 404, f"No slot action {action!r}.")
    elif not slot_ids:
        problem = ServiceProblem("portal", 422, "Choose at least one slot first.")
    else:
        body = {"slot_ids": slot_ids, "reason": form.get("reason") or None}
        try:
            moved = await api.post("scheduling", f"/v1/facilities/{user.facility_id}/slots/{action}", body)
            done = f"{SLOT_ACTIONS[action]} {len(moved)} slot{'s' if len(moved) != 1 else ''}."
        except ServiceProblem as refused:
            problem = refused
    slots = await attempt(_slots(api, str(user.facility_id)))
    view = str(form.get("view") or "list")
    return render(request, "facility_slots.html", slots=slots, problem=problem, done=done, view=view)


# --- bookings at the facility --------------------------------------------------------------------


async def _bookings_view(api: Api, facility_id: str, view: str) -> dict[str, Any]:
    bookings = await attempt(api.get("scheduling", f"/v1/facilities/{facility_id}/bookings"))
    return {"bookings": bookings, "view": view}


@router.get("/bookings")
async def bookings(request: Request, user: FacilityUser, api: UserApi, view: str = "list") -> Response:
    facility = await attempt(api.get("registry", f"/v1/facilities/{user.facility_id}"))
    shown = await _bookings_view(api, str(user.facility_id), view)
    return render(request, "facility_bookings.html", facility=facility, **shown)


@router.post("/bookings/{booking_id}/{action}")
async def act_on_booking(request: Request, booking_id: str, action: str, user: FacilityUser, api: UserApi) -> Response:
    """Complete a run or cancel it with a reason; the list answers with the bookings as they now are."""
    form = await request.form()
    problem, done = None, None
    if action not in ("complete", "cancel"):
        problem = ServiceProblem("portal", 404, f"No booking action {action!r}.")
    else:
        body = {"reason": str(form.get("reason") or "").strip() or None} if action == "cancel" else None
        try:
            await api.post("scheduling", f"/v1/bookings/{booking_id}/{action}", body)
            done = "The run is recorded as completed." if action == "complete" else "The booking is cancelled."
        except ServiceProblem as refused:
            problem = refused
    shown = await _bookings_view(api, str(user.facility_id), "list")
    return render(request, "facility_bookings_table.html", problem=problem, done=done, **shown)

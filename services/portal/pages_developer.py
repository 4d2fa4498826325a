"""A developer's pages: find capacity (list or week calendar), book (hold, countdown, confirm,
the materials answer arriving live, a short material's alternatives with where they are stocked),
my bookings (status, at-risk reasons, history, cancel, the calendar feed)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sse_starlette import EventSourceResponse

from services.portal.hub import Api, ServiceProblem
from services.portal.pages_materials import Stocking, where_stocked
from services.portal.session import Developer, check_csrf, signed_in
from services.portal.web import UserApi, attempt, is_htmx, public_url, render, templates
from shared.problems import Problem

router = APIRouter(dependencies=[Depends(check_csrf)])
FILTERS = ("country", "atmp_type", "process", "cleanroom_grade")
RUN_KINDS = ("development", "engineering", "clinical")
SETTLED = ("confirmed", "completed", "cancelled", "expired")
LIVE_SECONDS = 1.0  # how often the live status asks scheduling


@router.get("/")
async def home(request: Request) -> Response:
    user = signed_in(request)
    if user is None:
        return RedirectResponse("/sign-in", status_code=303)
    start = {
        "developer": "/capacity",
        "facility": "/facility/bookings",
        "regulator": "/review",
        "admin": "/operator/health",
    }.get(user.role)
    if start:
        return RedirectResponse(start, status_code=303)
    return render(request, "home.html")


# --- find capacity -------------------------------------------------------------------------------


def _day(value: str | None) -> str | None:
    return f"{value}T00:00:00Z" if value else None


@router.get("/capacity")
async def find_capacity(
    request: Request,
    user: Developer,
    api: UserApi,
    country: str | None = None,
    atmp_type: str | None = None,
    process: str | None = None,
    cleanroom_grade: str | None = None,
    starts_from: str | None = None,
    ends_before: str | None = None,
    view: str = "list",
) -> Response:
    chosen = {"country": country, "atmp_type": atmp_type, "process": process, "cleanroom_grade": cleanroom_grade,
              "starts_from": starts_from, "ends_before": ends_before}  # fmt: skip
    vocabularies, found = await asyncio.gather(
        attempt(api.get("registry", "/v1/vocabularies")),
        attempt(
            api.get(
                "scheduling",
                "/v1/slots",
                **{k: chosen[k] for k in FILTERS},
                starts_from=_day(starts_from),
                ends_before=_day(ends_before),
                limit=200,
            )  # fmt: skip
        ),
    )
    slots = found.value["items"] if found.value else []
    context: dict[str, Any] = {"chosen": chosen, "view": view, "found": found, "slots": slots}
    if is_htmx(request) and request.headers.get("hx-target") == "results":
        return render(request, "capacity_results.html", **context)
    return render(request, "capacity.html", vocabularies=vocabularies, **context)


# --- book ----------------------------------------------------------------------------------------


async def _chosen_slots(api: Api, slot_ids: list[str], suite_id: str | None) -> list[dict[str, Any]]:
    page = await api.get("scheduling", "/v1/slots", suite_id=suite_id, limit=500)
    return [s for s in page["items"] if s["slot_id"] in slot_ids]


async def _booking_form(
    request: Request, user: Developer, api: Api, slot_ids: list[str], suite_id: str | None, **extra: Any
) -> Response:
    slots, approvals = await asyncio.gather(
        attempt(_chosen_slots(api, slot_ids, suite_id)),
        attempt(api.get("approvals", "/v1/approvals", holder_org_id=user.org_id, status="approved")),
    )
    return render(
        request, "book.html", slot_ids=slot_ids, suite_id=suite_id, slots=slots, approvals=approvals,
        run_kinds=RUN_KINDS, idempotency_key=str(uuid.uuid4()), **extra,
    )  # fmt: skip


@router.get("/book")
async def book(
    request: Request,
    user: Developer,
    api: UserApi,
    slot_id: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI reads a repeated parameter so
    suite_id: str | None = None,
) -> Response:
    if not slot_id:
        return RedirectResponse("/capacity", status_code=303)
    return await _booking_form(request, user, api, slot_id, suite_id, form={})


@router.get("/book/materials")
async def pick_material(request: Request, user: Developer, api: UserApi, q: str = "") -> Response:
    """Catalogue matches as the developer types (typo-tolerant search is materials')."""
    found = await attempt(api.get("materials", "/v1/materials", q=q.strip() or None, limit=8))
    return render(request, "material_options.html", found=found, q=q)


@router.get("/book/need")
async def material_need_row(request: Request, user: Developer, material_id: str, name: str) -> Response:
    return render(request, "material_need.html", need={"material_id": material_id, "name": name})


@router.post("/book")
async def hold(request: Request, user: Developer, api: UserApi) -> Response:
    form = await request.form()
    slot_ids = [str(s) for s in form.getlist("slot_id")]
    needs = [
        {"material_id": m, "quantity": q, "unit": u or "mL"}
        for m, q, u in zip(form.getlist("material_id"), form.getlist("quantity"), form.getlist("unit"), strict=False)
    ]
    body = {
        "slot_ids": slot_ids,
        "product": str(form.get("product") or "").strip(),
        "run_kind": form.get("run_kind"),
        "approval_id": form.get("approval_id") or None,
        "material_needs": needs,
    }
    key = str(form.get("idempotency_key") or uuid.uuid4())
    try:
        booking = await api.post("scheduling", "/v1/bookings", body, headers={"Idempotency-Key": key})
    except ServiceProblem as problem:
        suite_id = str(form.get("suite_id") or "") or None
        names = dict(zip(form.getlist("material_id"), form.getlist("material_name"), strict=False))
        kept = {**body, "material_needs": [n | {"name": names.get(n["material_id"], "")} for n in needs]}
        return await _booking_form(request, user, api, slot_ids, suite_id, form=kept, problem=problem)
    return RedirectResponse(f"/bookings/{booking['booking_id']}", status_code=303)


# --- a booking, live -----------------------------------------------------------------------------


async def _alternatives(api: Api, booking: dict[str, Any]) -> tuple[dict[str, Any], Stocking]:
    """For each short material: its name and the alternatives the catalogue names; and where on the
    hub those alternatives are stocked."""
    short = list(dict.fromkeys(s["material_id"] for s in booking.get("shortfalls") or []))
    read = await asyncio.gather(*(attempt(api.get("materials", f"/v1/materials/{m}")) for m in short))
    found = dict(zip(short, read, strict=True))
    alternatives = [a["material"]["material_id"] for r in read for a in (r.value or {}).get("alternatives", [])]
    return found, await where_stocked(api, alternatives)


async def _booking_view(api: Api, booking_id: str, booking: dict[str, Any] | None = None) -> dict[str, Any]:
    """The booking (as given, or read now) with its history, its short materials' alternatives and
    where those are stocked."""
    booking = booking or await api.get("scheduling", f"/v1/bookings/{booking_id}")
    history, (materials, stocking) = await asyncio.gather(
        attempt(api.get("scheduling", f"/v1/bookings/{booking_id}/history")), _alternatives(api, booking)
    )
    return {"booking": booking, "history": history, "materials": materials, "stocking": stocking,
            "settled": _settled(booking)}  # fmt: skip


def _settled(booking: dict[str, Any]) -> bool:
    return booking["status"] in SETTLED and not booking["awaiting_materials"]


@router.get("/bookings/{booking_id}")
async def booking_page(request: Request, booking_id: str, api: UserApi) -> Response:
    return render(request, "booking.html", **await _booking_view(api, booking_id))


@router.get("/bookings/{booking_id}/live")
async def booking_live(request: Request, booking_id: str, api: UserApi) -> EventSourceResponse:
    """Server-sent events: the booking's status block again whenever the booking changed, until it
    settles. Only the booking is read each second; its history and alternatives when it changed."""

    async def changes() -> AsyncIterator[dict[str, str]]:
        seen: dict[str, Any] | None = None
        told: ServiceProblem | None = None  # said once, until scheduling answers again
        while not await request.is_disconnected():
            try:
                booking = await api.get("scheduling", f"/v1/bookings/{booking_id}")
                if booking != seen:
                    seen, told, view = booking, None, await _booking_view(api, booking_id, booking)
                    context = {**view, "user": signed_in(request), "request": request}
                    yield {"event": "status", "data": templates.get_template("booking_live.html").render(context)}
            except ServiceProblem as problem:
                if told is None:
                    seen, told = None, problem
                    yield {
                        "event": "status",
                        "data": templates.get_template("problem_inline.html").render(problem=problem),
                    }
            if seen is not None and _settled(seen):
                yield {"event": "settled", "data": ""}
                return
            await asyncio.sleep(LIVE_SECONDS)

    return EventSourceResponse(changes(), ping=15)


@router.post("/bookings/{booking_id}/{action}")
async def act_on_booking(request: Request, booking_id: str, action: str, api: UserApi) -> Response:
    """Confirm (developer) or cancel (developer or facility); the booking's block answers with its new state."""
    if action not in ("confirm", "cancel"):
        return render(
            request, "problem.html", status_code=404, title="Not found", detail=f"No action {action!r} on a booking."
        )
    form = await request.form()
    body = {"reason": form["reason"]} if form.get("reason") else None
    problem = None
    try:
        await api.post("scheduling", f"/v1/bookings/{booking_id}/{action}", body)
    except ServiceProblem as refused:
        problem = refused
    if not is_htmx(request):
        return RedirectResponse(f"/bookings/{booking_id}", status_code=303)
    return render(request, "booking_live.html", problem=problem, **await _booking_view(api, booking_id))


# --- my bookings ---------------------------------------------------------------------------------


@router.get("/bookings")
async def my_bookings(request: Request, user: Developer, api: UserApi, status: str | None = None) -> Response:
    bookings, facilities = await asyncio.gather(
        attempt(api.get("scheduling", "/v1/bookings", status=status)),
        attempt(api.get("registry", "/v1/facilities", page_size=100)),
    )
    names = {f["facility_id"]: f["legal_name"] for f in (facilities.value or {}).get("items", [])}
    feed = f"{public_url(request)}/calendar.ics?token={user.token}"
    return render(request, "bookings.html", bookings=bookings, names=names, feed=feed, status=status)


@router.get("/calendar.ics")
async def calendar_feed(request: Request, token: str) -> Response:
    """The signed-in user's bookings as an iCalendar feed for calendar programs, which send no cookie:
    the token travels in the address, as scheduling's own feeds take it."""
    try:
        principal = request.app.state.verifier.verify(token)
    except Problem:
        return Response("A valid token is required.", status_code=401, media_type="text/plain")
    if principal.org_id:
        path = f"/v1/orgs/{principal.org_id}/bookings.ics"
    elif principal.facility_ids:
        path = f"/v1/facilities/{sorted(principal.facility_ids)[0]}/bookings.ics"
    else:
        return Response("Only developers and facilities have a bookings calendar.", status_code=404)
    response = await Api(request.app.state.hub, token).text("scheduling", path)
    return Response(response.content, media_type="text/calendar; charset=utf-8")

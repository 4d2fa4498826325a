"""Scheduling HTTP API under /v1 for bookings: hold, confirm, cancel, complete; their lists and
history; their iCalendar feeds."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from services.scheduling import bookings, ical, models, queries
from services.scheduling.domain import BookingStatus
from services.scheduling.schemas import BookingIn, BookingOut, CancelIn, Limit, Offset, RelyingBookingOut
from shared.auth import CurrentPrincipal, Principal, Role, authenticate
from shared.problems import Forbidden, Unauthorized
from shared.service import Context

router = APIRouter(prefix="/v1")
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


async def _listing(
    status: Annotated[BookingStatus | None, Query(description="Only bookings in this state")] = None,
    at_risk: Annotated[bool | None, Query(description="Only flagged (true) or unflagged (false) bookings")] = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> queries.BookingListing:
    """The query parameters every list of bookings takes."""
    return queries.BookingListing(status and status.value, at_risk, limit, offset)


Listing = Annotated[queries.BookingListing, Depends(_listing)]


def developer_org(principal: Principal) -> str:
    if principal.role is not Role.DEVELOPER or not principal.org_id:
        raise Forbidden("Only a developer (a token with an org_id) books and waits for slots.")
    return principal.org_id


@router.post("/bookings", status_code=status.HTTP_201_CREATED, response_model=BookingOut, tags=["bookings"],
             summary="Hold slots of one suite for a run (Idempotency-Key honoured); the hold expires unless confirmed")  # fmt: skip
async def hold_booking(
    body: BookingIn, principal: CurrentPrincipal, context: Context, idempotency_key: IdempotencyKey = None
) -> Response:
    org_id = developer_org(principal)
    async with context.db.unit_of_work(principal.actor) as uow:
        held = await bookings.hold(
            uow, org_id, body, hold_ttl_seconds=context.settings.hold_ttl_seconds, idempotency_key=idempotency_key
        )
        await uow.commit()
    replayed = {"Idempotent-Replayed": "true"} if held.replayed else None
    return JSONResponse(held.answer, status_code=201, headers=replayed)


@router.get("/bookings", response_model=list[BookingOut], tags=["bookings"],
            summary="The caller's bookings: a developer's org, a facility user's facilities, all for admin")  # fmt: skip
async def my_bookings(principal: CurrentPrincipal, context: Context, listing: Listing) -> list[BookingOut]:
    async with context.db.sessions() as session:
        if principal.role is Role.DEVELOPER:
            rows = await queries.org_bookings(session, principal.org_id, listing)
        elif principal.role is Role.FACILITY:
            rows = await queries.facility_bookings(session, [UUID(f) for f in principal.facility_ids], listing)
        elif principal.is_admin:
            rows = await queries.every_booking(session, listing)
        else:
            raise Forbidden("Bookings are read by their developer org, their facility or the hub operator.")
    return [BookingOut.of(b) for b in rows]


@router.get("/bookings/relying", response_model=list[RelyingBookingOut], tags=["bookings"],
            summary="The live bookings (held, awaiting materials, confirmed; not yet ended) relying on these approvals: "
                    "a regulator's of their authority only, all for admin")  # fmt: skip
async def relying_bookings(
    principal: CurrentPrincipal,
    context: Context,
    approval_id: Annotated[
        list[UUID], Query(min_length=1, max_length=200, description="Repeatable: a parent and its descendants at once")
    ],
) -> list[RelyingBookingOut]:
    # A booking relying on an approval of another authority is left out, as one that does not
    # exist: the regulator asks about approvals, and learns nothing of others' bookings.
    if principal.role is Role.REGULATOR and principal.authority:
        authority: str | None = principal.authority
    elif principal.is_admin:
        authority = None
    else:
        raise Forbidden("Bookings by approval are read by the approval's authority or the hub operator.")
    async with context.db.sessions() as session:
        rows = await queries.relying_on(session, approval_id, authority, models.now())
    return [RelyingBookingOut.of(b) for b in rows]


@router.get("/orgs/{org_id}/bookings", response_model=list[BookingOut], tags=["bookings"],
            summary="A developer organisation's bookings, by start")  # fmt: skip
async def org_bookings(
    org_id: str, principal: CurrentPrincipal, context: Context, listing: Listing
) -> list[BookingOut]:
    principal.require_org(org_id)
    async with context.db.sessions() as session:
        return [BookingOut.of(b) for b in await queries.org_bookings(session, org_id, listing)]


@router.get("/facilities/{facility_id}/bookings", response_model=list[BookingOut], tags=["bookings"],
            summary="A facility's bookings, by start (its users; regulators, for inspection; admin)")  # fmt: skip
async def facility_bookings(
    facility_id: UUID, principal: CurrentPrincipal, context: Context, listing: Listing
) -> list[BookingOut]:
    principal.require_facility_reader(str(facility_id))
    async with context.db.sessions() as session:
        return [BookingOut.of(b) for b in await queries.facility_bookings(session, [facility_id], listing)]


@router.get("/bookings/{booking_id}", response_model=BookingOut, tags=["bookings"], summary="Read a booking")
async def read_booking(booking_id: UUID, principal: CurrentPrincipal, context: Context) -> BookingOut:
    async with context.db.sessions() as session:
        return BookingOut.of(await queries.booking(session, principal, booking_id))


@router.get("/bookings/{booking_id}/history", tags=["bookings"],
            summary="Every event of the booking, oldest first: who did what, when (CloudEvents envelopes)")  # fmt: skip
async def booking_history(booking_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.sessions() as session:
        return await queries.history(session, principal, booking_id)


@router.post("/bookings/{booking_id}/confirm", response_model=BookingOut, tags=["bookings"],
             summary="Confirm a hold: materials reserves the material needs; the booking ends confirmed or materials_short")  # fmt: skip
async def confirm_booking(booking_id: UUID, principal: CurrentPrincipal, context: Context) -> BookingOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        booking = await bookings.confirm(uow, principal, booking_id)
        await uow.commit()
    return BookingOut.of(booking)


@router.post("/bookings/{booking_id}/cancel", response_model=BookingOut, tags=["bookings"],
             summary="Cancel a booking, freeing its slots and materials (the facility must give a reason)")  # fmt: skip
async def cancel_booking(
    booking_id: UUID, principal: CurrentPrincipal, context: Context, body: CancelIn | None = None
) -> BookingOut:
    reason = body.reason if body else None
    async with context.db.unit_of_work(principal.actor) as uow:
        booking = await bookings.cancel(uow, principal, booking_id, reason, context.settings.hold_ttl_seconds)
        await uow.commit()
    return BookingOut.of(booking)


@router.post("/bookings/{booking_id}/complete", response_model=BookingOut, tags=["bookings"],
             summary="Record that the confirmed run took place (facility)")  # fmt: skip
async def complete_booking(booking_id: UUID, principal: CurrentPrincipal, context: Context) -> BookingOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        booking = await bookings.complete(uow, principal, booking_id)
        await uow.commit()
    return BookingOut.of(booking)


# --- calendar feeds ------------------------------------------------------------------------------


async def _feed_principal(request: Request, token: str | None) -> Principal:
    """Calendar programs cannot send headers: the feeds (only they) take the token as `?token=`."""
    header = request.headers.get("authorization", "")
    if token is None and header.lower().startswith("bearer "):
        token = header[7:]
    if not token:
        raise Unauthorized("A token is required: add ?token=<bearer token> to the feed URL.")
    return await authenticate(HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))


def _calendar(name: str, rows: list) -> Response:
    return Response(ical.bookings_calendar(name, rows), media_type="text/calendar; charset=utf-8")


FeedToken = Annotated[str | None, Query(description="The bearer token (calendar programs cannot send headers)")]


@router.get("/facilities/{facility_id}/bookings.ics", tags=["calendar"], response_class=Response,
            summary="A facility's bookings as an iCalendar feed (token as ?token=)")  # fmt: skip
async def facility_feed(facility_id: UUID, request: Request, context: Context, token: FeedToken = None) -> Response:
    principal = await _feed_principal(request, token)
    principal.require_facility(str(facility_id))
    async with context.db.sessions() as session:
        rows = await queries.facility_calendar(session, facility_id)
    return _calendar(f"GMP hub bookings – facility {facility_id}", rows)


@router.get("/orgs/{org_id}/bookings.ics", tags=["calendar"], response_class=Response,
            summary="A developer organisation's bookings as an iCalendar feed (token as ?token=)")  # fmt: skip
async def org_feed(org_id: str, request: Request, context: Context, token: FeedToken = None) -> Response:
    principal = await _feed_principal(request, token)
    principal.require_org(org_id)
    async with context.db.sessions() as session:
        rows = await queries.org_calendar(session, org_id)
    return _calendar(f"GMP hub bookings – {org_id}", rows)

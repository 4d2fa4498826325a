"""Scheduling HTTP API under /v1: bookings, their lists, history and iCalendar feeds, the waitlist."""

from typing import Annotated
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlmodel import col, select

from services.scheduling import handlers, ical, idempotency, models, waitlist
from services.scheduling.schemas import BookingIn, BookingOut, CancelIn, WaitlistIn, WaitlistOut
from shared.auth import CurrentPrincipal, Principal, Role, authenticate
from shared.database import event_history
from shared.errors import Forbidden, Unauthorized
from shared.service import Context

router = APIRouter(prefix="/v1")
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


class BookingListing:
    """The query parameters every list of bookings takes."""

    def __init__(
        self,
        status: Annotated[str | None, Query(description="Only bookings in this state")] = None,
        at_risk: Annotated[bool | None, Query(description="Only flagged (true) or unflagged (false) bookings")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> None:
        self.status, self.at_risk, self.limit, self.offset = status, at_risk, limit, offset


Listing = Annotated[BookingListing, Depends()]


def _developer(principal: Principal) -> str:
    if principal.role is not Role.DEVELOPER or not principal.org_id:
        raise Forbidden("Only a developer (a token with an org_id) books and waits for slots.")
    return principal.org_id


@router.post("/bookings", status_code=status.HTTP_201_CREATED, response_model=BookingOut, tags=["bookings"],
             summary="Hold slots of one suite for a run (Idempotency-Key honoured); the hold expires unless confirmed")  # fmt: skip
async def hold_booking(
    body: BookingIn, principal: CurrentPrincipal, context: Context, idempotency_key: IdempotencyKey = None
) -> Response:
    org_id = _developer(principal)
    request_hash = idempotency.fingerprint(body.model_dump_json())
    scope = f"org:{org_id}"  # the booking is the org's, whichever of its users (or tokens) retries
    async with context.db.unit_of_work(principal.actor) as uow:
        if idempotency_key:
            answer = await idempotency.claim(uow, scope, idempotency_key, request_hash)
            if answer is not None:
                return JSONResponse(answer, status_code=201, headers={"Idempotent-Replayed": "true"})
        booking = await handlers.hold(
            uow,
            org_id=org_id,
            slot_ids=body.slot_ids,
            product=body.product,
            run_kind=body.run_kind,
            approval_id=body.approval_id,
            material_needs=[n.model_dump(mode="json") for n in body.material_needs],
            hold_ttl_seconds=context.settings.hold_ttl_seconds,
        )
        await uow.session.flush()
        answer = BookingOut.of(booking).model_dump(mode="json")
        if idempotency_key:
            await idempotency.remember(uow, scope, idempotency_key, answer, booking.id)
        await uow.commit()
    return JSONResponse(answer, status_code=201)


@router.get("/bookings", response_model=list[BookingOut], tags=["bookings"],
            summary="The caller's bookings: a developer's org, a facility user's facilities, all for admin")  # fmt: skip
async def my_bookings(
    principal: CurrentPrincipal,
    context: Context,
    listing: Listing,
) -> list[BookingOut]:
    if principal.role is Role.DEVELOPER:
        scope = col(models.Booking.org_id) == principal.org_id
    elif principal.role is Role.FACILITY:
        scope = col(models.Booking.facility_id).in_([UUID(f) for f in principal.facility_ids])
    elif principal.is_admin:
        scope = sa.true()
    else:
        raise Forbidden("Bookings are read by their developer org, their facility or the hub operator.")
    return await _list(context, principal, scope, listing)


@router.get("/orgs/{org_id}/bookings", response_model=list[BookingOut], tags=["bookings"],
            summary="A developer organisation's bookings, by start")  # fmt: skip
async def org_bookings(
    org_id: str,
    principal: CurrentPrincipal,
    context: Context,
    listing: Listing,
) -> list[BookingOut]:
    principal.require_org(org_id)
    scope = col(models.Booking.org_id) == org_id
    return await _list(context, principal, scope, listing)


@router.get("/facilities/{facility_id}/bookings", response_model=list[BookingOut], tags=["bookings"],
            summary="A facility's bookings, by start")  # fmt: skip
async def facility_bookings(
    facility_id: UUID,
    principal: CurrentPrincipal,
    context: Context,
    listing: Listing,
) -> list[BookingOut]:
    principal.require_facility(str(facility_id))
    scope = col(models.Booking.facility_id) == facility_id
    return await _list(context, principal, scope, listing)


async def _list(
    context: Context, principal: Principal, scope: sa.ColumnElement, listing: BookingListing
) -> list[BookingOut]:
    query = select(models.Booking).where(scope)
    if listing.status:
        query = query.where(models.Booking.status == listing.status)
    if listing.at_risk is not None:
        risky = sa.func.cardinality(col(models.Booking.at_risk_reasons)) > 0
        query = query.where(risky if listing.at_risk else sa.not_(risky))
    query = query.order_by(col(models.Booking.starts_at), col(models.Booking.id))
    async with context.db.unit_of_work(principal.actor) as uow:
        return [BookingOut.of(b) for b in await uow.session.exec(query.offset(listing.offset).limit(listing.limit))]


@router.get("/bookings/{booking_id}", response_model=BookingOut, tags=["bookings"], summary="Read a booking")
async def read_booking(booking_id: UUID, principal: CurrentPrincipal, context: Context) -> BookingOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        return BookingOut.of(await handlers.visible(uow, principal, booking_id))


@router.get("/bookings/{booking_id}/history", tags=["bookings"],
            summary="Every event of the booking, oldest first: who did what, when (CloudEvents envelopes)")  # fmt: skip
async def booking_history(booking_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.unit_of_work(principal.actor) as uow:
        await handlers.visible(uow, principal, booking_id)
        return await event_history(uow.session, str(booking_id))


@router.post("/bookings/{booking_id}/confirm", response_model=BookingOut, tags=["bookings"],
             summary="Confirm a hold: materials reserves the material needs; the booking ends confirmed or materials_short")  # fmt: skip
async def confirm_booking(booking_id: UUID, principal: CurrentPrincipal, context: Context) -> BookingOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        booking = await handlers.confirm(uow, principal, booking_id)
        await uow.commit()
    return BookingOut.of(booking)


@router.post("/bookings/{booking_id}/cancel", response_model=BookingOut, tags=["bookings"],
             summary="Cancel a booking, freeing its slots and materials (the facility must give a reason)")  # fmt: skip
async def cancel_booking(
    booking_id: UUID, principal: CurrentPrincipal, context: Context, body: CancelIn | None = None
) -> BookingOut:
    reason = body.reason if body else None
    async with context.db.unit_of_work(principal.actor) as uow:
        booking = await handlers.cancel(uow, principal, booking_id, reason, context.settings.hold_ttl_seconds)
        await uow.commit()
    return BookingOut.of(booking)


@router.post("/bookings/{booking_id}/complete", response_model=BookingOut, tags=["bookings"],
             summary="Record that the confirmed run took place (facility)")  # fmt: skip
async def complete_booking(booking_id: UUID, principal: CurrentPrincipal, context: Context) -> BookingOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        booking = await handlers.complete(uow, principal, booking_id)
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


async def _calendar(context, principal: Principal, name: str, scope) -> Response:  # noqa: ANN001
    query = select(models.Booking).where(scope).order_by(col(models.Booking.starts_at))
    async with context.db.unit_of_work(principal.actor) as uow:
        body = ical.bookings_calendar(name, await uow.session.exec(query))
    return Response(body, media_type="text/calendar; charset=utf-8")


FeedToken = Annotated[str | None, Query(description="The bearer token (calendar programs cannot send headers)")]


@router.get("/facilities/{facility_id}/bookings.ics", tags=["calendar"], response_class=Response,
            summary="A facility's bookings as an iCalendar feed (token as ?token=)")  # fmt: skip
async def facility_feed(facility_id: UUID, request: Request, context: Context, token: FeedToken = None) -> Response:
    principal = await _feed_principal(request, token)
    principal.require_facility(str(facility_id))
    return await _calendar(context, principal, f"GMP hub bookings – facility {facility_id}",
                           col(models.Booking.facility_id) == facility_id)  # fmt: skip


@router.get("/orgs/{org_id}/bookings.ics", tags=["calendar"], response_class=Response,
            summary="A developer organisation's bookings as an iCalendar feed (token as ?token=)")  # fmt: skip
async def org_feed(org_id: str, request: Request, context: Context, token: FeedToken = None) -> Response:
    principal = await _feed_principal(request, token)
    principal.require_org(org_id)
    return await _calendar(context, principal, f"GMP hub bookings – {org_id}", col(models.Booking.org_id) == org_id)


# --- waitlist ------------------------------------------------------------------------------------


def _entry_out(e: models.WaitlistEntry) -> WaitlistOut:
    state = waitlist.entry_state(e)
    return WaitlistOut(**state.model_dump(), created_at=e.created_at)


@router.post("/waitlist", status_code=status.HTTP_201_CREATED, response_model=WaitlistOut, tags=["waitlist"],
             summary="Wait for a slot matching criteria; the first in line is given a hold when one opens "
                     "(at once, if a matching slot is open already)")  # fmt: skip
async def join_waitlist(body: WaitlistIn, principal: CurrentPrincipal, context: Context) -> WaitlistOut:
    org_id = _developer(principal)
    fields = body.model_dump(exclude={"material_needs", "run_kind"})
    entry = models.WaitlistEntry(
        **fields,
        status="waiting",
        org_id=org_id,
        run_kind=body.run_kind.value,
        material_needs=[n.model_dump(mode="json") for n in body.material_needs],
        created_by=principal.actor,
        updated_by=principal.actor,
    )
    async with context.db.unit_of_work(principal.actor) as uow:
        await waitlist.join(uow, entry, context.settings.hold_ttl_seconds)
        await uow.commit()
    return _entry_out(entry)


@router.get("/waitlist", response_model=list[WaitlistOut], tags=["waitlist"],
            summary="The caller's waitlist entries (all for admin), oldest first")  # fmt: skip
async def my_waitlist(principal: CurrentPrincipal, context: Context) -> list[WaitlistOut]:
    query = select(models.WaitlistEntry).order_by(col(models.WaitlistEntry.created_at))
    if not principal.is_admin:
        query = query.where(models.WaitlistEntry.org_id == _developer(principal))
    async with context.db.unit_of_work(principal.actor) as uow:
        return [_entry_out(e) for e in await uow.session.exec(query)]


@router.post("/waitlist/{entry_id}/leave", response_model=WaitlistOut, tags=["waitlist"],
             summary="Leave the waitlist")  # fmt: skip
async def leave_waitlist(entry_id: UUID, principal: CurrentPrincipal, context: Context) -> WaitlistOut:
    org_id = None if principal.is_admin else _developer(principal)
    async with context.db.unit_of_work(principal.actor) as uow:
        entry = await waitlist.leave(uow, entry_id, org_id)
        await uow.commit()
    return _entry_out(entry)

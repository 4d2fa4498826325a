"""Scheduling HTTP API under /v1 for manufacturing requests: send, withdraw, decline; one request
with the quotes the caller may see, an organisation's and a facility's lists, the history."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import Field

from services.scheduling import models, queries, requests
from services.scheduling.domain import RequestStatus
from services.scheduling.schemas import Limit, Offset, ReasonIn, RequestIn, RequestOut
from shared.auth import CurrentPrincipal, Principal
from shared.service import Context

router = APIRouter(prefix="/v1", tags=["requests"])
ByStatus = Annotated[RequestStatus | None, Query(description="Only requests in this state")]


class DeclineIn(ReasonIn):
    facility_id: UUID | None = Field(
        default=None, description="Which of the caller's facilities declines (needed only if several are addressed)"
    )


def _out(principal: Principal, row: models.ManufacturingRequest, quotes: list[models.Quote]) -> RequestOut:
    return RequestOut.of(row, quotes, only=requests.shown_facilities(principal, row))


@router.post("/requests", status_code=status.HTTP_201_CREATED, response_model=RequestOut,
             summary="Send a manufacturing request of one's organisation to 1–20 facilities, named or matched (developer)")  # fmt: skip
async def send_request(body: RequestIn, principal: CurrentPrincipal, context: Context) -> RequestOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        row = await requests.send(uow, principal, body)
        await uow.commit()
    return RequestOut.of(row, [])


@router.get("/requests/{request_id}", response_model=RequestOut,
            summary="Read a request with its quotes side by side (a facility user: its own quote only)")  # fmt: skip
async def read_request(request_id: UUID, principal: CurrentPrincipal, context: Context) -> RequestOut:
    async with context.db.sessions() as session:
        return _out(principal, *await queries.request(session, principal, request_id))


@router.get("/requests/{request_id}/history",
            summary="Every event of the request and its quotes, oldest first: who did what, when, why")  # fmt: skip
async def request_history(request_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.sessions() as session:
        return await queries.request_history(session, principal, request_id)


@router.post("/requests/{request_id}/withdraw", response_model=RequestOut,
             summary="Withdraw the request, with a reason (developer): its offered quotes are superseded")  # fmt: skip
async def withdraw_request(
    request_id: UUID, body: ReasonIn, principal: CurrentPrincipal, context: Context
) -> RequestOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        await requests.withdraw(uow, principal, request_id, body.reason, context.settings.hold_ttl_seconds)
        await uow.commit()
    async with context.db.sessions() as session:
        return _out(principal, *await queries.request(session, principal, request_id))


@router.post("/requests/{request_id}/decline", response_model=RequestOut,
             summary="Decline the request for one's facility, with a reason (an addressed facility's user)")  # fmt: skip
async def decline_request(
    request_id: UUID, body: DeclineIn, principal: CurrentPrincipal, context: Context
) -> RequestOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        await requests.decline(
            uow, principal, request_id, body.facility_id, body.reason, context.settings.hold_ttl_seconds
        )
        await uow.commit()
    async with context.db.sessions() as session:
        return _out(principal, *await queries.request(session, principal, request_id))


@router.get("/orgs/{org_id}/requests", response_model=list[RequestOut],
            summary="A developer organisation's requests, newest first, with their quotes")  # fmt: skip
async def org_requests(
    org_id: str, principal: CurrentPrincipal, context: Context, status: ByStatus = None, limit: Limit = 200,
    offset: Offset = 0,
) -> list[RequestOut]:  # fmt: skip
    principal.require_org_reader(org_id)
    async with context.db.sessions() as session:
        rows = await queries.requests_of(session, principal, org_id=org_id, status=status, limit=limit, offset=offset)
    return [_out(principal, r, q) for r, q in rows]


@router.get("/facilities/{facility_id}/requests", response_model=list[RequestOut],
            summary="The requests addressed to a facility, newest first, with its own quotes")  # fmt: skip
async def facility_requests(
    facility_id: UUID, principal: CurrentPrincipal, context: Context, status: ByStatus = None, limit: Limit = 200,
    offset: Offset = 0,
) -> list[RequestOut]:  # fmt: skip
    principal.require_facility_reader(str(facility_id))
    async with context.db.sessions() as session:
        rows = await queries.requests_of(
            session, principal, facility_id=facility_id, status=status, limit=limit, offset=offset
        )
    return [_out(principal, r, q) for r, q in rows]

"""Scheduling HTTP API under /v1 for the waitlist: join, list, leave."""

from uuid import UUID

from fastapi import APIRouter, status

from services.scheduling import queries, waitlist
from services.scheduling.api_bookings import developer_org
from services.scheduling.schemas import WaitlistIn, WaitlistOut
from shared.auth import CurrentPrincipal
from shared.service import Context

router = APIRouter(prefix="/v1")


@router.post("/waitlist", status_code=status.HTTP_201_CREATED, response_model=WaitlistOut, tags=["waitlist"],
             summary="Wait for a slot matching criteria; the first in line is given a hold when one opens "
                     "(at once, if a matching slot is open already)")  # fmt: skip
async def join_waitlist(body: WaitlistIn, principal: CurrentPrincipal, context: Context) -> WaitlistOut:
    org_id = developer_org(principal)
    async with context.db.unit_of_work(principal.actor) as uow:
        entry = await waitlist.join(uow, org_id, body, context.settings.hold_ttl_seconds)
        await uow.commit()
    async with context.db.sessions() as session:  # its place, read as the list reads it
        [(_, position)] = await queries.waitlist(session, org_id, entry.id)
    return WaitlistOut.of(entry, position)


@router.get("/waitlist", response_model=list[WaitlistOut], tags=["waitlist"],
            summary="The caller's waitlist entries (all for admin), oldest first, each waiting one with its "
                    "position in line")  # fmt: skip
async def my_waitlist(principal: CurrentPrincipal, context: Context) -> list[WaitlistOut]:
    org_id = None if principal.is_admin else developer_org(principal)
    async with context.db.sessions() as session:
        return [WaitlistOut.of(e, position) for e, position in await queries.waitlist(session, org_id)]


@router.post("/waitlist/{entry_id}/leave", response_model=WaitlistOut, tags=["waitlist"],
             summary="Leave the waitlist")  # fmt: skip
async def leave_waitlist(entry_id: UUID, principal: CurrentPrincipal, context: Context) -> WaitlistOut:
    org_id = None if principal.is_admin else developer_org(principal)
    async with context.db.unit_of_work(principal.actor) as uow:
        entry = await waitlist.leave(uow, entry_id, org_id)
        await uow.commit()
    return WaitlistOut.model_validate(entry, from_attributes=True)

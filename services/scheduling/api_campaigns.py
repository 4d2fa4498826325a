"""Scheduling HTTP API under /v1 for campaigns (accepted quotes): read one, its history, an
organisation's and a facility's lists; confirm or cancel the whole; cancel, move or complete one
batch."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from services.scheduling import campaigns, queries
from services.scheduling.domain import CampaignStatus
from services.scheduling.schemas import CampaignOut, CancelIn, Limit, Offset, RescheduleIn
from shared.auth import CurrentPrincipal
from shared.service import Context

router = APIRouter(prefix="/v1", tags=["campaigns"])
ByStatus = Annotated[CampaignStatus | None, Query(description="Only campaigns in this state")]


async def _answer(context: Context, principal: CurrentPrincipal, campaign_id: UUID) -> CampaignOut:
    async with context.db.sessions() as session:
        return CampaignOut.of(*await queries.campaign(session, principal, campaign_id))


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut,
            summary="Read a campaign and its batches (each a booking) with their states")  # fmt: skip
async def read_campaign(campaign_id: UUID, principal: CurrentPrincipal, context: Context) -> CampaignOut:
    return await _answer(context, principal, campaign_id)


@router.get("/campaigns/{campaign_id}/history", response_model=list[dict],
            summary="Every event of the campaign and of its batches, oldest first")  # fmt: skip
async def campaign_history(campaign_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.sessions() as session:
        return await queries.campaign_history(session, principal, campaign_id)


@router.post("/campaigns/{campaign_id}/confirm", response_model=CampaignOut,
             summary="Confirm every open batch at once (developer): materials reserves them all or none; "
                     "a clinical campaign needs an active technical agreement. Repeated while materials "
                     "answers: the campaign as it stands")  # fmt: skip
async def confirm_campaign(campaign_id: UUID, principal: CurrentPrincipal, context: Context) -> CampaignOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        await campaigns.confirm(uow, principal, campaign_id)
        await uow.commit()
    return await _answer(context, principal, campaign_id)


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignOut,
             summary="Cancel the whole campaign (developer; the facility with a reason): every open batch's "
                     "slot is freed and its materials released")  # fmt: skip
async def cancel_campaign(
    campaign_id: UUID, body: CancelIn, principal: CurrentPrincipal, context: Context
) -> CampaignOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        await campaigns.cancel(uow, principal, campaign_id, body.reason, context.settings.hold_ttl_seconds)
        await uow.commit()
    return await _answer(context, principal, campaign_id)


@router.post("/campaigns/{campaign_id}/batches/{booking_id}/cancel", response_model=CampaignOut,
             summary="Cancel one batch (developer; the facility with a reason): its slot is freed, its "
                     "materials released")  # fmt: skip
async def cancel_batch(
    campaign_id: UUID, booking_id: UUID, body: CancelIn, principal: CurrentPrincipal, context: Context
) -> CampaignOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        await campaigns.cancel_batch(
            uow, principal, campaign_id, booking_id, body.reason, context.settings.hold_ttl_seconds
        )
        await uow.commit()
    return await _answer(context, principal, campaign_id)


@router.post("/campaigns/{campaign_id}/batches/{booking_id}/reschedule", response_model=CampaignOut,
             summary="Move one batch to another open slot of the facility (developer or facility, with a "
                     "reason); its reserved materials stay with it")  # fmt: skip
async def reschedule_batch(
    campaign_id: UUID, booking_id: UUID, body: RescheduleIn, principal: CurrentPrincipal, context: Context
) -> CampaignOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        await campaigns.reschedule_batch(
            uow, principal, campaign_id, booking_id, body.slot_id, body.reason, context.settings.hold_ttl_seconds
        )
        await uow.commit()
    return await _answer(context, principal, campaign_id)


@router.post("/campaigns/{campaign_id}/batches/{booking_id}/complete", response_model=CampaignOut,
             summary="Record that one confirmed batch's run took place (the facility)")  # fmt: skip
async def complete_batch(
    campaign_id: UUID, booking_id: UUID, principal: CurrentPrincipal, context: Context
) -> CampaignOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        await campaigns.complete_batch(uow, principal, campaign_id, booking_id)
        await uow.commit()
    return await _answer(context, principal, campaign_id)


@router.get("/orgs/{org_id}/campaigns", response_model=list[CampaignOut],
            summary="A developer organisation's campaigns, newest first, with their batches")  # fmt: skip
async def org_campaigns(
    org_id: str, principal: CurrentPrincipal, context: Context, status: ByStatus = None, limit: Limit = 200,
    offset: Offset = 0,
) -> list[CampaignOut]:  # fmt: skip
    principal.require_org_reader(org_id)
    async with context.db.sessions() as session:
        rows = await queries.campaigns_of(session, org_id=org_id, status=status, limit=limit, offset=offset)
    return [CampaignOut.of(r, b) for r, b in rows]


@router.get("/facilities/{facility_id}/campaigns", response_model=list[CampaignOut],
            summary="A facility's campaigns, newest first, with their batches")  # fmt: skip
async def facility_campaigns(
    facility_id: UUID, principal: CurrentPrincipal, context: Context, status: ByStatus = None, limit: Limit = 200,
    offset: Offset = 0,
) -> list[CampaignOut]:  # fmt: skip
    principal.require_facility_reader(str(facility_id))
    async with context.db.sessions() as session:
        rows = await queries.campaigns_of(session, facility_id=facility_id, status=status, limit=limit, offset=offset)
    return [CampaignOut.of(r, b) for r, b in rows]

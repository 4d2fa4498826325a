"""Scheduling HTTP API under /v1 for quotes on manufacturing requests: send, revise, decline (the
facility), accept (the developer); one quote."""

from uuid import UUID

from fastapi import APIRouter, status

from services.scheduling import queries, quotes
from services.scheduling.schemas import QuoteIn, QuoteOut, QuoteTermsIn, ReasonIn
from shared.auth import CurrentPrincipal
from shared.service import Context

router = APIRouter(prefix="/v1/requests/{request_id}/quotes", tags=["quotes"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=QuoteOut,
             summary="Quote a request addressed to one's facility: one open slot per batch, held for the quote")  # fmt: skip
async def send_quote(request_id: UUID, body: QuoteIn, principal: CurrentPrincipal, context: Context) -> QuoteOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        row = await quotes.send(uow, principal, request_id, body)
        await uow.commit()
    return QuoteOut.of(row)


@router.get("/{quote_id}", response_model=QuoteOut, summary="Read a quote")
async def read_quote(request_id: UUID, quote_id: UUID, principal: CurrentPrincipal, context: Context) -> QuoteOut:
    async with context.db.sessions() as session:
        return QuoteOut.of(await queries.quote(session, principal, request_id, quote_id))


@router.post("/{quote_id}/revisions", response_model=QuoteOut,
             summary="Revise an offered quote with new terms (its facility): slots no longer proposed are released")  # fmt: skip
async def revise_quote(
    request_id: UUID, quote_id: UUID, body: QuoteTermsIn, principal: CurrentPrincipal, context: Context
) -> QuoteOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        row = await quotes.revise(uow, principal, request_id, quote_id, body, context.settings.hold_ttl_seconds)
        await uow.commit()
    return QuoteOut.of(row)


@router.post("/{quote_id}/decline", response_model=QuoteOut,
             summary="Decline (withdraw) an offered quote, with a reason (its facility): its slots are released")  # fmt: skip
async def decline_quote(
    request_id: UUID, quote_id: UUID, body: ReasonIn, principal: CurrentPrincipal, context: Context
) -> QuoteOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        row = await quotes.decline(uow, principal, request_id, quote_id, body.reason, context.settings.hold_ttl_seconds)
        await uow.commit()
    return QuoteOut.of(row)


@router.post("/{quote_id}/accept", response_model=QuoteOut,
             summary="Accept an offered quote (developer): the others are superseded, and it becomes a campaign "
                     "holding its slots (`campaign_id`); a clinical run needs an active technical agreement")  # fmt: skip
async def accept_quote(request_id: UUID, quote_id: UUID, principal: CurrentPrincipal, context: Context) -> QuoteOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        row, campaign = await quotes.accept(uow, principal, request_id, quote_id, context.settings.hold_ttl_seconds)
        await uow.commit()
    return QuoteOut.of(row).model_copy(update={"campaign_id": campaign.id})

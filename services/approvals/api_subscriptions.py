"""How regulators follow approvals besides the Kafka topic: webhook subscriptions and an SSE stream."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Header, Query, Request, status
from sqlmodel.ext.asyncio.session import AsyncSession
from sse_starlette import EventSourceResponse

from services.approvals import models, queries, subscriptions
from services.approvals.schemas import SubscriptionCreated, SubscriptionIn, SubscriptionOut
from services.approvals.settings import settings_of
from services.approvals.webhooks import authority_of, holder_of
from shared.auth import CurrentPrincipal, Principal, Role
from shared.event_stream import outbox_events, start_after
from shared.problems import Forbidden, Unprocessable
from shared.service import Context
from shared.webhook_api import DeliveryLimit, DeliveryOut, DeliveryStatus, delivery_log

router = APIRouter(prefix="/v1", tags=["subscriptions"])


def _own_authority(principal: Principal, asked: str | None) -> str:
    """A regulator follows its own authority; the hub operator names one."""
    principal.require_role(Role.REGULATOR)
    authority = asked or principal.authority
    if authority is None:
        raise Unprocessable("Name the authority to follow.")
    principal.require_authority(authority)
    return authority


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED, response_model=SubscriptionCreated,
             summary="Subscribe a URL to approval events of an authority (regulator); the secret is shown once")  # fmt: skip
async def subscribe(body: SubscriptionIn, principal: CurrentPrincipal, context: Context) -> SubscriptionCreated:
    authority = _own_authority(principal, body.authority)
    allow_private = settings_of(context).webhook_allow_private_targets
    async with context.db.unit_of_work(principal.actor) as uow:
        sub = await subscriptions.subscribe(
            uow, str(body.url), authority, body.event_types, allow_private_targets=allow_private
        )
        await uow.commit()
    return SubscriptionCreated(**SubscriptionOut.of(sub).model_dump(), secret=sub.secret)


@router.get(
    "/subscriptions", response_model=list[SubscriptionOut], summary="The subscriptions of the caller's authority"
)
async def list_subscriptions(principal: CurrentPrincipal, context: Context) -> list[SubscriptionOut]:
    principal.require_role(Role.REGULATOR)
    async with context.db.sessions() as session:
        found = await queries.subscriptions(session, principal)
    return [SubscriptionOut.of(s) for s in found]


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="Read a subscription")
async def read_subscription(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> SubscriptionOut:
    async with context.db.sessions() as session:
        return SubscriptionOut.of(await queries.subscription(session, principal, subscription_id))


@router.delete("/subscriptions/{subscription_id}", response_model=SubscriptionOut,
               summary="End a subscription: nothing more is sent, its record and deliveries are kept")  # fmt: skip
async def end_subscription(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> SubscriptionOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        sub = await subscriptions.end(uow, principal, subscription_id)
        await uow.commit()
    return SubscriptionOut.of(sub)


@router.post("/subscriptions/{subscription_id}/rotate-secret", response_model=SubscriptionCreated,
             summary="Replace the signing secret (regulator); the new one is shown once, the old one keeps signing "
                     "beside it for GMPHUB_WEBHOOK_SECRET_GRACE_SECONDS")  # fmt: skip
async def rotate_secret(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> SubscriptionCreated:
    grace = timedelta(seconds=settings_of(context).webhook_secret_grace_seconds)
    async with context.db.unit_of_work(principal.actor) as uow:
        sub, secret = await subscriptions.rotate(uow, principal, subscription_id, grace)
        await uow.commit()
    return SubscriptionCreated(**SubscriptionOut.of(sub).model_dump(), secret=secret)


@router.get("/subscriptions/{subscription_id}/history", summary="Who subscribed, rotated the secret and ended it, when")
async def subscription_history(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.sessions() as session:
        return await queries.subscription_history(session, principal, subscription_id)


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryOut],
            summary="Deliveries to this subscription, newest first, with every attempt")  # fmt: skip
async def list_deliveries(
    subscription_id: UUID,
    principal: CurrentPrincipal,
    context: Context,
    delivery_status: DeliveryStatus = None,
    limit: DeliveryLimit = 50,
) -> list[DeliveryOut]:
    async with context.db.sessions() as session:
        await queries.subscription(session, principal, subscription_id)
        return await delivery_log(session, models.WEBHOOK_TABLES, subscription_id, delivery_status, limit)


# --- the SSE stream --------------------------------------------------------------------------


@router.get("/events/stream", tags=["events"], response_class=EventSourceResponse,
            summary="Server-sent events of approvals the caller may see; resumable with Last-Event-ID")  # fmt: skip
async def stream_events(
    request: Request,
    principal: CurrentPrincipal,
    context: Context,
    authority: Annotated[str | None, Query(description="Regulators: defaults to their own authority.")] = None,
    types: Annotated[str | None, Query(description="Comma-separated event types; none means all.")] = None,
    since: Annotated[
        int | None,
        Query(
            ge=0,
            description="Start after this event id (0: from the beginning). "
            "Without it or Last-Event-ID, only new events.",
        ),
    ] = None,  # fmt: skip
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Each event's SSE `id` is its position in the approvals outbox; send it back as
    `Last-Event-ID` to resume exactly after it (shared/event_stream.py)."""
    if principal.role is Role.REGULATOR:
        authority = _own_authority(principal, authority)
    elif principal.role is not Role.DEVELOPER and not principal.is_admin:
        raise Forbidden("The approval event stream is for regulators, developers and the hub operator.")
    wanted = {t for t in (types or "").split(",") if t}
    subscriptions.check_event_types(sorted(wanted))
    after = await start_after(context, last_event_id, since)

    async def visible(session: AsyncSession, rows: list[sa.Row]) -> Iterator[sa.Row]:
        letters: set[str] = set()
        if principal.role is Role.DEVELOPER:
            letters = await queries.letters_held(session, principal.org_id)
        return (row for row in rows if _shown(row, principal, authority, wanted, letters))

    return EventSourceResponse(outbox_events(request, context, after, visible), ping=15)


def _shown(row: sa.Row, principal: Principal, authority: str | None, wanted: set[str], letters: set[str]) -> bool:
    """Of the wanted types, of the authority asked for; a developer's only if it holds the
    approval or a letter of access to it."""
    if wanted and row.type not in wanted:
        return False
    if authority is not None and authority_of(row.envelope) != authority:
        return False
    return principal.role is not Role.DEVELOPER or holder_of(row.envelope) == principal.org_id or row.key in letters

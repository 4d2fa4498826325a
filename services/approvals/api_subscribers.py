"""How regulators follow approvals besides the Kafka topic: webhook subscriptions and an SSE stream."""

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Header, Query, Request, status
from sqlmodel import select
from sse_starlette import EventSourceResponse

from services.approvals import events, models, webhooks
from services.approvals.outbox_reader import OutboxReader, authority_of, holder_of
from services.approvals.schemas import AttemptOut, DeliveryOut, SubscriptionCreated, SubscriptionIn, SubscriptionOut
from services.approvals.signals import new_events
from services.approvals.targets import TargetRefused, check_target
from shared.auth import CurrentPrincipal, Principal, Role
from shared.database import UnitOfWork, event_history, outbox
from shared.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from shared.events import registry
from shared.service import Context, ServiceContext

router = APIRouter(prefix="/v1", tags=["subscriptions"])
# What a subscriber may follow: approval and letter events (subscription events are only kept and published).
APPROVAL_EVENT_TYPES = sorted(
    t for t, cls in registry.items() if cls.service() == "approvals" and not issubclass(cls, events.SubscriptionEvent)
)


def _check_types(types: list[str]) -> None:
    unknown = sorted(set(types) - set(APPROVAL_EVENT_TYPES))
    if unknown:
        raise Unprocessable(f"Unknown event types {', '.join(unknown)}; known: {', '.join(APPROVAL_EVENT_TYPES)}.")


def _own_authority(principal: Principal, asked: str | None) -> str:
    """A regulator follows its own authority; the hub operator names one."""
    principal.require_role(Role.REGULATOR)
    authority = asked or principal.authority
    if authority is None:
        raise Unprocessable("Name the authority to follow.")
    principal.require_authority(authority)
    return authority


async def _subscription(context: ServiceContext, principal: Principal, subscription_id: UUID) -> models.Subscription:
    async with context.db.sessions() as session:
        sub = await session.get(models.Subscription, subscription_id)
    if sub is None or not (
        principal.is_admin or principal.authority == sub.authority and principal.role is Role.REGULATOR
    ):
        raise NotFound(f"No subscription {subscription_id} that this token may see.")
    return sub


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED, response_model=SubscriptionCreated,
             summary="Subscribe a URL to approval events of an authority (regulator); the secret is shown once")  # fmt: skip
async def subscribe(body: SubscriptionIn, principal: CurrentPrincipal, context: Context) -> SubscriptionCreated:
    authority = _own_authority(principal, body.authority)
    _check_types(body.event_types)
    try:
        await check_target(str(body.url), context.settings.webhook_allow_private_targets)
    except TargetRefused as exc:
        raise Unprocessable(f"Webhooks cannot go to {body.url}: {exc}.") from None
    sub = models.Subscription(
        url=str(body.url), authority=authority, event_types=sorted(set(body.event_types)),
        secret=webhooks.new_secret(), created_by=principal.actor,
    )  # fmt: skip
    async with context.db.unit_of_work(principal.actor) as uow:
        uow.session.add(sub)
        _emit(uow, events.SubscriptionCreated, sub)
        await uow.commit()
    return SubscriptionCreated(**SubscriptionOut.of(sub).model_dump(), secret=sub.secret)


def _emit(uow: UnitOfWork, event: type[events.SubscriptionEvent], sub: models.Subscription) -> None:
    state = events.SubscriptionState(
        subscription_id=sub.id, url=sub.url, subscriber_authority=sub.authority, event_types=list(sub.event_types),
        active=sub.active, previous_secret_expires_at=sub.previous_secret_expires_at,
    )  # fmt: skip
    uow.emit(event(subscription_id=sub.id, subscription=state))


@router.get(
    "/subscriptions", response_model=list[SubscriptionOut], summary="The subscriptions of the caller's authority"
)
async def list_subscriptions(principal: CurrentPrincipal, context: Context) -> list[SubscriptionOut]:
    principal.require_role(Role.REGULATOR)
    query = select(models.Subscription).order_by(models.Subscription.created_at)
    if not principal.is_admin:
        query = query.where(models.Subscription.authority == principal.authority)
    async with context.db.sessions() as session:
        return [SubscriptionOut.of(s) for s in await session.exec(query)]


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="Read a subscription")
async def read_subscription(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> SubscriptionOut:
    return SubscriptionOut.of(await _subscription(context, principal, subscription_id))


@router.delete("/subscriptions/{subscription_id}", response_model=SubscriptionOut,
               summary="End a subscription: nothing more is sent, its record and deliveries are kept")  # fmt: skip
async def end_subscription(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> SubscriptionOut:
    await _subscription(context, principal, subscription_id)
    async with context.db.unit_of_work(principal.actor) as uow:
        sub = await uow.session.get(models.Subscription, subscription_id, with_for_update=True)
        if sub.active:  # ending an ended subscription changes nothing
            await webhooks.deactivate(uow.session, sub)
            _emit(uow, events.SubscriptionEnded, sub)
        await uow.commit()
    return SubscriptionOut.of(sub)


@router.post("/subscriptions/{subscription_id}/rotate-secret", response_model=SubscriptionCreated,
             summary="Replace the signing secret (regulator); the new one is shown once, the old one keeps signing "
                     "beside it for GMPHUB_WEBHOOK_SECRET_GRACE_SECONDS")  # fmt: skip
async def rotate_secret(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> SubscriptionCreated:
    await _subscription(context, principal, subscription_id)
    grace = timedelta(seconds=context.settings.webhook_secret_grace_seconds)
    async with context.db.unit_of_work(principal.actor) as uow:
        sub = await uow.session.get(models.Subscription, subscription_id, with_for_update=True)
        if not sub.active:
            raise Conflict(f"Subscription {subscription_id} has ended; nothing is signed for it any more.")
        secret = webhooks.rotate_secret(sub, principal.actor, grace)
        uow.session.add(sub)
        _emit(uow, events.SubscriptionSecretRotated, sub)
        await uow.commit()
    return SubscriptionCreated(**SubscriptionOut.of(sub).model_dump(), secret=secret)


@router.get("/subscriptions/{subscription_id}/history", summary="Who subscribed, rotated the secret and ended it, when")
async def subscription_history(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    await _subscription(context, principal, subscription_id)
    async with context.db.unit_of_work(principal.actor) as uow:
        return await event_history(uow.session, str(subscription_id))


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryOut],
            summary="Deliveries to this subscription, newest first, with every attempt")  # fmt: skip
async def list_deliveries(
    subscription_id: UUID,
    principal: CurrentPrincipal,
    context: Context,
    delivery_status: Annotated[
        str | None, Query(alias="status", pattern="^(pending|delivered|failed|cancelled)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryOut]:
    await _subscription(context, principal, subscription_id)
    query = select(models.Delivery).where(models.Delivery.subscription_id == subscription_id)
    if delivery_status:
        query = query.where(models.Delivery.status == delivery_status)
    async with context.db.sessions() as session:
        deliveries = list(await session.exec(query.order_by(models.Delivery.outbox_seq.desc()).limit(limit)))  # type: ignore[attr-defined]
        attempts = await session.exec(
            select(models.DeliveryAttempt)
            .where(models.DeliveryAttempt.delivery_id.in_([d.id for d in deliveries]))  # type: ignore[attr-defined]
            .order_by(models.DeliveryAttempt.attempt)
        )
        attempts_of: dict[UUID, list[AttemptOut]] = {}
        for a in attempts:
            attempts_of.setdefault(a.delivery_id, []).append(AttemptOut.model_validate(a, from_attributes=True))
    return [
        DeliveryOut(
            delivery_id=d.id,
            attempt_log=attempts_of.get(d.id, []),
            **d.model_dump(exclude={"id", "subscription_id", "created_at", "next_attempt_at"}),
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
        )  # fmt: skip
        for d in deliveries
    ]


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
    `Last-Event-ID` to resume exactly after it. `event` is the CloudEvents type, `data` the envelope."""
    if principal.role is Role.REGULATOR:
        authority = _own_authority(principal, authority)
    elif principal.role is not Role.DEVELOPER and not principal.is_admin:
        raise Forbidden("The approval event stream is for regulators, developers and the hub operator.")
    wanted = {t for t in (types or "").split(",") if t}
    _check_types(sorted(wanted))
    if last_event_id is not None:
        if not last_event_id.isdigit():
            raise BadRequest("Last-Event-ID must be an event id this stream sent (a number).")
        after = int(last_event_id)
    elif since is not None:
        after = since
    else:
        async with context.db.sessions() as session:
            after = await session.scalar(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0)))
    return EventSourceResponse(_events(request, context, principal, authority, wanted, after), ping=15)


async def _events(
    request: Request, context: ServiceContext, principal: Principal, authority: str | None, wanted: set[str], after: int
) -> AsyncIterator[dict]:
    reader = OutboxReader()
    poll = min(context.settings.job_interval_seconds, 1.0)  # other replicas' commits do not ring this bell
    while not await request.is_disconnected():
        ticket = new_events.ticket()
        async with context.db.sessions() as session:
            rows = await reader.read(session, after, 200)
            letters: set[str] = set()
            if principal.role is Role.DEVELOPER and rows:
                letters = {
                    str(i)
                    for i in await session.scalars(
                        sa.select(models.LetterOfAccess.approval_id).where(
                            models.LetterOfAccess.grantee_org_id == principal.org_id,
                            models.LetterOfAccess.revoked_at.is_(None),
                        )
                    )
                }
        for row in rows:
            after = row.seq
            if wanted and row.type not in wanted:
                continue
            if authority is not None and authority_of(row.envelope) != authority:
                continue
            if (
                principal.role is Role.DEVELOPER
                and holder_of(row.envelope) != principal.org_id
                and row.key not in letters
            ):
                continue
            yield {"id": str(row.seq), "event": row.type, "data": json.dumps(row.envelope)}
        if not rows:
            await new_events.wait(poll, ticket)

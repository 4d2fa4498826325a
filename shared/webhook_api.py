"""What the subscription routes of every service that delivers webhooks have alike: the bodies
(the subscription's common fields, the URL check, the delivery log with every attempt) and the
routes: subscribing, and on one subscription (read, end, rotate its secret, its history and
deliveries)."""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any, Self
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import AnyHttpUrl, BaseModel, Field, field_validator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.auth import CurrentPrincipal, Principal, Role
from shared.database import event_history
from shared.problems import NotFound
from shared.service import Context
from shared.subscriptions import SubscriptionCases
from shared.webhook_store import S, SubscriptionFields, WebhookTables
from shared.webhooks import webhook_settings

DeliveryStatus = Annotated[str | None, Query(alias="status", pattern="^(pending|delivered|failed|cancelled)$")]
DeliveryLimit = Annotated[int, Query(ge=1, le=200)]


class SubscriptionInFields(BaseModel):
    """Where to send events; each service adds whose events and which types."""

    url: AnyHttpUrl = Field(examples=["https://receiver.example.eu/hooks/gmphub"])

    @field_validator("url", mode="before")
    @classmethod
    def no_control_characters(cls, url: object) -> object:
        """The URL parser drops a NUL or a line break silently: the subscriber would be subscribed
        to another URL than the one it sent."""
        if isinstance(url, str) and any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
            raise ValueError("the URL contains a control character (NUL, a line break, ...)")
        return url


class SubscriptionOutFields(BaseModel):
    """A subscription as its subscriber reads it; each service adds whose events it follows."""

    subscription_id: UUID
    url: str
    event_types: list[str]
    active: bool
    created_by: str
    created_at: datetime
    secret_rotated_by: str | None = None
    secret_rotated_at: datetime | None = None
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="Until then deliveries are signed by the rotated-out secret too."
    )

    @classmethod
    def of(cls, s: SubscriptionFields) -> Self:
        return cls(subscription_id=s.id, **s.model_dump(include=set(cls.model_fields) - {"subscription_id"}))


SECRET_DESCRIPTION = "Shown only now: verify deliveries with it (Standard Webhooks, HMAC-SHA256)."


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    delivery_id: UUID
    event_id: str
    event_type: str
    outbox_seq: int
    status: str = Field(description="pending | delivered | failed (out of attempts) | cancelled (subscription ended)")
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    attempt_log: list[AttemptOut]


async def visible_subscription(
    session: AsyncSession, model: type[S], subscription_id: UUID, may_see: Callable[[S], bool]
) -> S:
    """The subscription, or 404 alike for one that does not exist and one the caller may not see."""
    sub = await session.get(model, subscription_id)
    if sub is None or not may_see(sub):
        raise NotFound(f"No subscription {subscription_id} that this token may see.")
    return sub


async def delivery_log(
    session: AsyncSession, tables: WebhookTables, subscription_id: UUID, status: str | None, limit: int
) -> list[DeliveryOut]:
    """The subscription's deliveries (in `status`, if given), newest first, each with its attempts."""
    delivery, attempt = tables.delivery, tables.attempt
    query = select(delivery).where(col(delivery.subscription_id) == subscription_id)
    if status:
        query = query.where(col(delivery.status) == status)
    found = list(await session.exec(query.order_by(col(delivery.outbox_seq).desc()).limit(limit)))
    attempts = await session.exec(
        select(attempt).where(col(attempt.delivery_id).in_([d.id for d in found])).order_by(col(attempt.attempt))
    )
    attempts_of: dict[UUID, list[AttemptOut]] = {}
    for a in attempts:
        attempts_of.setdefault(a.delivery_id, []).append(AttemptOut.model_validate(a, from_attributes=True))
    shown: set[str] = set(DeliveryOut.model_fields) - {"delivery_id", "attempt_log", "next_attempt_at"}
    return [
        DeliveryOut(
            delivery_id=d.id,
            attempt_log=attempts_of.get(d.id, []),
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            **d.model_dump(include=shown),
        )  # fmt: skip
        for d in found
    ]


def subscription_routes(
    router: APIRouter,
    *,
    tables: WebhookTables,
    cases: SubscriptionCases[Any],
    body: type[SubscriptionInFields],
    subscriber: Callable[[Principal, Any], dict[str, Any]],
    subscribers: tuple[Role, ...],
    listed: Callable[[AsyncSession, Principal], Awaitable[list[Any]]],
    out: type[SubscriptionOutFields],
    created: type[SubscriptionOutFields],
) -> None:
    """Add to the service's `router` the subscribing (a `body`; `subscriber` checks the caller and
    answers whose events the subscription follows, as its fields), the list of the subscriptions of
    the caller (one of the `subscribers` roles) and the routes on one it may see (the `cases`' rule,
    else 404): read it, end it, rotate its secret, its history and its deliveries. `out` shows one,
    `created` with the new secret."""

    async def visible(session: AsyncSession, principal: Principal, subscription_id: UUID) -> SubscriptionFields:
        return await visible_subscription(session, cases.model, subscription_id, partial(cases.may_see, principal))

    @router.post("/subscriptions", status_code=status.HTTP_201_CREATED, response_model=created,
                 summary="Subscribe a URL to the events of the caller's authority, organisation or facility; the "
                         "secret is shown once")  # fmt: skip
    async def subscribe(subscription: body, principal: CurrentPrincipal, context: Context) -> Any:  # type: ignore[valid-type]
        asked: Any = subscription  # the service's body: url, event_types and whose events
        whose = subscriber(principal, asked)
        allow_private = webhook_settings(context).webhook_allow_private_targets
        async with context.db.unit_of_work(principal.actor) as uow:
            sub = await cases.subscribe(
                uow,  # type: ignore[arg-type]  # the service's
                str(asked.url), asked.event_types, allow_private_targets=allow_private, **whose,
            )  # fmt: skip
            await uow.commit()
        return created.model_validate(out.of(sub).model_dump() | {"secret": sub.secret})

    @router.get("/subscriptions", response_model=list[out],  # type: ignore[valid-type]
                summary="The subscriptions of the caller's authority, organisation or facilities")  # fmt: skip
    async def list_subscriptions(principal: CurrentPrincipal, context: Context) -> Any:
        principal.require_role(*subscribers)
        async with context.db.sessions() as session:
            found = await listed(session, principal)
        return [out.of(s) for s in found]

    @router.get("/subscriptions/{subscription_id}", response_model=out, summary="Read a subscription")
    async def read_subscription(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> Any:
        async with context.db.sessions() as session:
            return out.of(await visible(session, principal, subscription_id))

    @router.delete("/subscriptions/{subscription_id}", response_model=out,
                   summary="End a subscription: nothing more is sent, its record and deliveries are kept")  # fmt: skip
    async def end_subscription(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> Any:
        async with context.db.unit_of_work(principal.actor) as uow:
            sub = await cases.end(uow, principal, subscription_id)  # type: ignore[arg-type]  # the service's
            await uow.commit()
        return out.of(sub)

    @router.post("/subscriptions/{subscription_id}/rotate-secret", response_model=created,
                 summary="Replace the signing secret; the new one is shown once, the old one keeps signing beside "
                         "it for GMPHUB_WEBHOOK_SECRET_GRACE_SECONDS")  # fmt: skip
    async def rotate_secret(subscription_id: UUID, principal: CurrentPrincipal, context: Context) -> Any:
        grace = timedelta(seconds=webhook_settings(context).webhook_secret_grace_seconds)
        async with context.db.unit_of_work(principal.actor) as uow:
            sub, secret = await cases.rotate(uow, principal, subscription_id, grace)  # type: ignore[arg-type]
            await uow.commit()
        return created.model_validate(out.of(sub).model_dump() | {"secret": secret})

    @router.get("/subscriptions/{subscription_id}/history",
                summary="Who subscribed, rotated the secret and ended it, when")  # fmt: skip
    async def subscription_history(
        subscription_id: UUID, principal: CurrentPrincipal, context: Context
    ) -> list[dict[str, Any]]:
        async with context.db.sessions() as session:
            await visible(session, principal, subscription_id)
            return await event_history(session, str(subscription_id))

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
            await visible(session, principal, subscription_id)
            return await delivery_log(session, tables, subscription_id, delivery_status, limit)

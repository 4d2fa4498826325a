"""What the subscription routes of every service that delivers webhooks answer alike: the
subscription's common fields, the delivery log with every attempt, and the URL check."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Self
from uuid import UUID

from fastapi import Query
from pydantic import AnyHttpUrl, BaseModel, Field, field_validator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.problems import NotFound
from shared.webhooks import S, SubscriptionFields, WebhookTables

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

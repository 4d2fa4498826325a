"""A service's webhook tables and their SQL: the fields of its subscription, delivery, delivery
attempt and cursor tables (its models.py makes its tables of them, in its own database, the
subscription adding whose events it follows), and the repositories its unit of work holds."""

import types
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.database import outbox
from shared.outbox_reader import OutboxReader

CURSOR = "webhooks"


def now() -> datetime:
    return datetime.now(UTC)


def _tz(nullable: bool) -> Any:  # a fresh column type per table: a mixin's columns are copied
    return Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=nullable)


class SubscriptionFields(SQLModel):
    """Where to send which events, and the HMAC secret; the service adds whose events they are."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    url: str
    event_types: list[str] = Field(default_factory=list, sa_type=ARRAY(sa.Text), nullable=False)
    secret: str  # `whsec_<base64>`; shown once at creation or rotation, kept to sign deliveries
    previous_secret: str | None = None  # the one rotated out: still signs until previous_secret_expires_at
    previous_secret_expires_at: datetime | None = _tz(nullable=True)
    active: bool = True
    created_by: str
    created_at: datetime = Field(default_factory=now, sa_type=sa.DateTime(timezone=True), nullable=False)
    deactivated_at: datetime | None = _tz(nullable=True)
    secret_rotated_by: str | None = None
    secret_rotated_at: datetime | None = _tz(nullable=True)


class DeliveryFields(SQLModel):
    """One event to one subscription, tried until delivered or out of attempts."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="subscription.id", index=True)
    outbox_seq: int = Field(sa_type=sa.BigInteger, nullable=False)
    event_id: str
    event_type: str
    status: str = "pending"  # pending | delivered | failed | cancelled
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=now, sa_type=sa.DateTime(timezone=True), nullable=False)
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime = Field(default_factory=now, sa_type=sa.DateTime(timezone=True), nullable=False)
    delivered_at: datetime | None = _tz(nullable=True)


class DeliveryAttemptFields(SQLModel):
    """One attempt at a delivery (its table adds the identity key)."""

    delivery_id: uuid.UUID = Field(foreign_key="delivery.id", index=True)
    attempt: int
    attempted_at: datetime = Field(default_factory=now, sa_type=sa.DateTime(timezone=True), nullable=False)
    status_code: int | None = None
    error: str | None = None
    duration_ms: int


class WebhookCursorFields(SQLModel):
    """How far the fan-out job has read the service's outbox."""

    name: str = Field(primary_key=True)
    last_seq: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)


@dataclass(frozen=True)
class WebhookTables:
    subscription: type[SubscriptionFields]
    delivery: type[DeliveryFields]
    attempt: type[DeliveryAttemptFields]
    cursor: type[WebhookCursorFields]


def webhook_tables(base: type[SQLModel], subscription: type[SubscriptionFields]) -> WebhookTables:
    """The service's delivery, delivery attempt and cursor tables, in `base`'s metadata beside its
    subscription table (which adds whose events a subscription follows)."""

    def table(name: str, fields: type[SQLModel], namespace: dict[str, Any]) -> Any:
        namespace["__module__"] = base.__module__
        return types.new_class(name, (fields, base), {"table": True}, lambda ns: ns.update(namespace))

    delivery = table("Delivery", DeliveryFields, {
        "__tablename__": "delivery",
        "__table_args__": (
            sa.UniqueConstraint("subscription_id", "outbox_seq", name="uq_delivery_event"),
            sa.Index("ix_delivery_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
        ),
    })  # fmt: skip
    attempt = table("DeliveryAttempt", DeliveryAttemptFields, {
        "__tablename__": "delivery_attempt",
        "__annotations__": {"id": int | None},
        "id": Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)),
    })  # fmt: skip
    cursor = table("WebhookCursor", WebhookCursorFields, {"__tablename__": "webhook_cursor"})
    return WebhookTables(subscription, delivery, attempt, cursor)


# --- the repositories the service's unit of work holds ---------------------------------------

S = TypeVar("S", bound=SubscriptionFields)


class Subscriptions(Generic[S]):
    def __init__(self, session: AsyncSession, model: type[S]) -> None:
        self.session = session
        self.model = model

    def add(self, subscription: S) -> None:
        self.session.add(subscription)

    async def lock(self, subscription_id: uuid.UUID) -> S | None:
        return await self.session.get(self.model, subscription_id, with_for_update=True)

    async def active(self) -> list[S]:
        """The active subscriptions, share-locked: ending one (which locks it) waits for the fan-out
        reading it, then cancels what that fan-out made for it too."""
        query = select(self.model).where(col(self.model.active)).with_for_update(read=True)
        return list(await self.session.exec(query))


class Deliveries:
    """Webhook deliveries: one per event and subscription, created from the outbox behind a cursor,
    claimed by the senders under a lease."""

    def __init__(self, session: AsyncSession, tables: WebhookTables) -> None:
        self.session = session
        self.tables = tables

    async def take_cursor(self) -> int | None:
        """The outbox seq the fan-out read up to, locked; None while another replica holds it. The
        row is made by the first fan-out (then read again), not offered anew after every commit."""
        cursor = self.tables.cursor
        taken = sa.select(col(cursor.last_seq)).where(col(cursor.name) == CURSOR).with_for_update(skip_locked=True)
        last_seq = await self.session.scalar(taken)
        if last_seq is None:  # no row yet, or another replica's lock
            await self.session.execute(insert(cursor).values(name=CURSOR, last_seq=0).on_conflict_do_nothing())
            last_seq = await self.session.scalar(taken)
        return last_seq

    async def move_cursor(self, last_seq: int) -> None:
        cursor = self.tables.cursor
        await self.session.execute(sa.update(cursor).where(col(cursor.name) == CURSOR).values(last_seq=last_seq))

    async def events_after(
        self, reader: OutboxReader, after: int, limit: int, *, envelopes: bool = True
    ) -> list[sa.Row[Any]]:
        return await reader.read(self.session, after, limit, envelopes=envelopes)

    async def add(self, deliveries: list[dict[str, Any]]) -> None:
        """New pending deliveries, due now; one already made for its event and subscription is kept."""
        at = now()
        values = [d | {"id": uuid.uuid4(), "next_attempt_at": at, "created_at": at} for d in deliveries]
        await self.session.execute(insert(self.tables.delivery).values(values).on_conflict_do_nothing())

    async def claim(self, limit: int, lease: timedelta) -> list[sa.Row[Any]]:
        """Take due deliveries of active subscriptions (skipping those another replica holds),
        push their `next_attempt_at` out by `lease` and count the attempt; return what sending
        needs: the delivery, its subscription's URL and secrets, the event's envelope."""
        delivery, subscription = self.tables.delivery.__table__.c, self.tables.subscription.__table__.c  # type: ignore[attr-defined]
        due = (
            sa.select(delivery.id)
            .join(self.tables.subscription, subscription.id == delivery.subscription_id)
            .where(delivery.status == "pending", delivery.next_attempt_at <= sa.func.now())
            .where(subscription.active)
            .order_by(delivery.next_attempt_at)
            .limit(limit)
            .with_for_update(of=self.tables.delivery, skip_locked=True)
        )
        claimed = (
            sa.update(self.tables.delivery)
            .where(delivery.id.in_(due.scalar_subquery()))
            .values(next_attempt_at=sa.func.now() + lease, attempts=delivery.attempts + 1)
            .returning(delivery.id, delivery.subscription_id, delivery.outbox_seq, delivery.event_id, delivery.attempts)
        ).cte("claimed")
        result = await self.session.execute(
            sa.select(
                claimed, subscription.url, subscription.secret, subscription.previous_secret,
                subscription.previous_secret_expires_at, outbox.c.envelope,
            )
            .join(self.tables.subscription, subscription.id == claimed.c.subscription_id)
            .join(outbox, outbox.c.seq == claimed.c.outbox_seq)
        )  # fmt: skip
        return list(result)

    async def record(self, attempt: DeliveryAttemptFields, outcome: str, *, retry_in: timedelta) -> None:
        """The attempt, and its delivery `delivered`, `failed` (out of attempts) or due again
        after `retry_in` (`retry`); unless the delivery is no longer pending (its subscription
        ended meanwhile)."""
        delivery = self.tables.delivery
        changes: dict[str, dict[str, Any]] = {
            "delivered": {"status": "delivered", "delivered_at": sa.func.now()},
            "failed": {"status": "failed"},
            "retry": {"next_attempt_at": sa.func.now() + retry_in},
        }
        values = changes[outcome]
        updated = await self.session.execute(
            sa.update(delivery)
            .where(col(delivery.id) == attempt.delivery_id, col(delivery.status) == "pending")
            .values(last_status_code=attempt.status_code, last_error=attempt.error, **values)
        )
        if updated.rowcount:  # type: ignore[attr-defined]  # an UPDATE's CursorResult
            self.session.add(attempt)

    async def next_due_in(self) -> float | None:
        """Seconds until the earliest pending delivery of an active subscription is due (negative if
        overdue); None if none is. Those of ended subscriptions are never claimed, so not counted."""
        delivery, subscription = self.tables.delivery, self.tables.subscription
        due = await self.session.scalar(
            sa.select(sa.func.extract("epoch", sa.func.min(col(delivery.next_attempt_at)) - sa.func.now()))
            .join(subscription, col(subscription.id) == col(delivery.subscription_id))
            .where(col(delivery.status) == "pending", col(subscription.active))
        )
        return None if due is None else float(due)

    async def cancel_pending(self, subscription_id: uuid.UUID) -> None:
        delivery = self.tables.delivery
        await self.session.execute(
            sa.update(delivery)
            .where(col(delivery.subscription_id) == subscription_id, col(delivery.status) == "pending")
            .values(status="cancelled")
        )


class WebhookUnitOfWork(Protocol):
    """What the mechanism needs of a service's unit of work."""

    actor: str | None
    subscriptions: Subscriptions[Any]
    deliveries: Deliveries

    async def commit(self) -> None: ...

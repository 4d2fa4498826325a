"""Webhooks, as every service that offers subscriptions delivers them: what delivering an event
of the service's outbox to a subscription takes. Each service keeps its own tables (its models
build on the field sets here) and says which subscription follows which event; the rest is here.

- `fan_out` reads new rows of the service's outbox (by seq, from a cursor stored in the
  database) and creates one delivery row per subscription that follows the row.
- `Sender.claim` takes due deliveries (`FOR UPDATE SKIP LOCKED`, then a lease in
  `next_attempt_at`, so replicas never send the same attempt twice and a crashed sender's claim
  simply expires); `Sender.deliver` sends one with a short timeout and records the attempt.
  A failure is retried with exponential backoff until `webhook_max_attempts`.
- `webhook_jobs` makes the two background loops that run them, each delivery in its own task.

Deliveries follow Standard Webhooks: `webhook-id` (the event id, the same on every retry),
`webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256>` with the subscription's
`whsec_` secret over `id.timestamp.body`); the body is the CloudEvents envelope. For
`webhook_secret_grace_seconds` after a rotation the header carries a second signature, by the
secret rotated out, space-separated as the specification allows: a receiver still on the old
secret keeps verifying until it switches.
"""

import asyncio
import base64
import json
import logging
import secrets
import time
import types
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar, cast

import httpx
import sqlalchemy as sa
from prometheus_client import Counter
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from standardwebhooks import Webhook

from shared.auth import Principal
from shared.database import Bell, Database, outbox
from shared.events import Event
from shared.outbox_reader import OutboxReader
from shared.problems import Conflict, NotFound, Unprocessable
from shared.service import ServiceContext
from shared.settings import Settings
from shared.targets import TargetRefused, check_target, checked_transport

log = logging.getLogger(__name__)
CURSOR = "webhooks"
BATCH = 200
MAX_IN_FLIGHT = 50
RETRY_BASE_SECONDS = 1.0  # attempt n waits base * 4**(n-1): 1 s, 4 s, 16 s ... about 1.5 h over 8 attempts
RETRY_CAP_SECONDS = 6 * 3600.0
ATTEMPTS = Counter("gmphub_webhook_attempts_total", "Webhook delivery attempts by outcome", ["outcome"])


class WebhookSettings(Settings):
    """The settings of a service that delivers webhooks (`GMPHUB_WEBHOOK_*`)."""

    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 8
    webhook_secret_grace_seconds: int = 86400  # a rotated-out secret keeps signing this long
    webhook_allow_private_targets: bool = False  # `gmp-hub up` allows them: receivers on this machine


def now() -> datetime:
    return datetime.now(UTC)


def _tz(nullable: bool) -> Any:  # a fresh column type per table: a mixin's columns are copied
    return Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=nullable)


# --- the tables' fields: each service's models.py makes its tables of them --------------------


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
        return list(await self.session.exec(select(self.model).where(col(self.model.active))))


class Deliveries:
    """Webhook deliveries: one per event and subscription, created from the outbox behind a cursor,
    claimed by the senders under a lease."""

    def __init__(self, session: AsyncSession, tables: WebhookTables) -> None:
        self.session = session
        self.tables = tables

    async def take_cursor(self) -> int | None:
        """The outbox seq the fan-out read up to, locked; None while another replica holds it."""
        cursor = self.tables.cursor
        await self.session.execute(insert(cursor).values(name=CURSOR, last_seq=0).on_conflict_do_nothing())
        return await self.session.scalar(
            sa.select(col(cursor.last_seq)).where(col(cursor.name) == CURSOR).with_for_update(skip_locked=True)
        )

    async def move_cursor(self, last_seq: int) -> None:
        cursor = self.tables.cursor
        await self.session.execute(sa.update(cursor).where(col(cursor.name) == CURSOR).values(last_seq=last_seq))

    async def events_after(self, reader: OutboxReader, after: int, limit: int) -> list[sa.Row[Any]]:
        return await reader.read(self.session, after, limit)

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
        """Seconds until the earliest pending delivery is due (negative if overdue); None if none is."""
        delivery = self.tables.delivery
        due = await self.session.scalar(
            sa.select(sa.func.extract("epoch", sa.func.min(col(delivery.next_attempt_at)) - sa.func.now())).where(
                col(delivery.status) == "pending"
            )
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
    deliveries: Deliveries

    async def commit(self) -> None: ...


# --- secrets and signatures ------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def rotate_secret(subscription: SubscriptionFields, actor: str, grace: timedelta) -> str:
    """A new secret signs from now on; the current one keeps signing beside it for `grace`. A
    secret rotated out before that stops at once: only one old secret is ever honoured."""
    rotated_at = now()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = rotated_at + grace
    subscription.secret = new_secret()
    subscription.secret_rotated_at, subscription.secret_rotated_by = rotated_at, actor
    return subscription.secret


def signature_header(
    secret: str, previous: str | None, previous_expires_at: datetime | None, msg_id: str, sent_at: datetime, body: str
) -> str:
    """`webhook-signature`: the current secret's signature, then the previous one's while its grace lasts."""
    signing = [secret] + ([previous] if previous and previous_expires_at and sent_at < previous_expires_at else [])
    return " ".join(Webhook(s).sign(msg_id, sent_at, body) for s in signing)


def backoff(attempts: int) -> float:
    return float(min(RETRY_BASE_SECONDS * 4 ** (attempts - 1), RETRY_CAP_SECONDS))


# --- subscriptions: the use cases and their events -------------------------------------------


def subscription_events(service: str, state: type[BaseModel]) -> tuple[type[Event], ...]:
    """The events of a service's subscriptions, its audit trail of them (published, never sent to
    webhooks or the stream): their base, then created, secret rotated, ended; each carries the
    subscription's `state` as the service shows it."""

    def event(name: str, base: type[Event], namespace: dict[str, Any]) -> type[Event]:
        namespace["__module__"] = state.__module__
        return types.new_class(name, (base,), {}, lambda ns: ns.update(namespace))

    base = event("SubscriptionEvent", Event, {
        "__annotations__": {"subscription_id": uuid.UUID, "subscription": state},
        "aggregate_field": "subscription_id",
    })  # fmt: skip
    steps = (
        ("SubscriptionCreated", "created", "A subscriber subscribed a URL to the events it may follow."),
        ("SubscriptionSecretRotated", "secret_rotated",
         "The signing secret was replaced; the old one signs beside it until `previous_secret_expires_at`."),
        ("SubscriptionEnded", "ended", "Nothing more is sent to the subscription; its record and deliveries are kept."),
    )  # fmt: skip
    return base, *(
        event(name, base, {"__doc__": doc, "type": f"gmphub.{service}.subscription.{step}.v1"})
        for name, step, doc in steps
    )


class SubscriberUnitOfWork(WebhookUnitOfWork, Protocol):
    subscriptions: Subscriptions[Any]

    def emit(self, *events: Event) -> None: ...


@dataclass(frozen=True)
class SubscriptionCases(Generic[S]):
    """A service's subscription use cases: subscribe a URL to the events of `followable` types
    that concern a subscriber, rotate the signing secret, end the subscription; each is one of
    `events` (created, rotated, ended) carrying the subscription's `state`. The caller commits."""

    model: type[S]
    followable: list[str]
    may_see: Callable[[Principal, S], bool]
    state: Callable[[S], BaseModel]
    events: tuple[type[Event], type[Event], type[Event]]

    def check_event_types(self, types: Iterable[str]) -> None:
        unknown = sorted(set(types) - set(self.followable))
        if unknown:
            raise Unprocessable(f"Unknown event types {', '.join(unknown)}; known: {', '.join(self.followable)}.")

    async def subscribe(
        self,
        uow: SubscriberUnitOfWork,
        url: str,
        event_types: list[str],
        *,
        allow_private_targets: bool,
        **subscriber: Any,
    ) -> S:
        """Subscribe `url` to the events of `event_types` (none: all) that concern `subscriber`,
        with a new signing secret. The URL must resolve to public addresses unless the operator
        allows others."""  # fmt: skip
        self.check_event_types(event_types)
        try:
            await check_target(url, allow_private_targets)
        except TargetRefused as exc:
            raise Unprocessable(f"Webhooks cannot go to {url}: {exc}.") from None
        sub = self.model(
            url=url, event_types=sorted(set(event_types)), secret=new_secret(), created_by=uow.actor or "unknown",
            **subscriber,
        )  # fmt: skip
        uow.subscriptions.add(sub)
        self._emit(uow, 0, sub)
        return sub

    async def rotate(
        self, uow: SubscriberUnitOfWork, principal: Principal, subscription_id: uuid.UUID, grace: timedelta
    ) -> tuple[S, str]:
        """A new signing secret; the one it replaces keeps signing beside it for `grace`."""
        sub = await self._locked(uow, principal, subscription_id)
        if not sub.active:
            raise Conflict(f"Subscription {subscription_id} has ended; nothing is signed for it any more.")
        secret = rotate_secret(sub, principal.actor, grace)
        self._emit(uow, 1, sub)
        return sub, secret

    async def end(self, uow: SubscriberUnitOfWork, principal: Principal, subscription_id: uuid.UUID) -> S:
        """Nothing more is sent (pending deliveries are cancelled); the record and deliveries are
        kept. Ending an ended subscription changes nothing."""
        sub = await self._locked(uow, principal, subscription_id)
        if sub.active:
            sub.active, sub.deactivated_at = False, now()
            await uow.deliveries.cancel_pending(sub.id)
            self._emit(uow, 2, sub)
        return sub

    async def _locked(self, uow: SubscriberUnitOfWork, principal: Principal, subscription_id: uuid.UUID) -> S:
        sub = await uow.subscriptions.lock(subscription_id)
        if sub is None or not self.may_see(principal, sub):
            raise NotFound(f"No subscription {subscription_id} that this token may see.")
        return cast(S, sub)

    def _emit(self, uow: SubscriberUnitOfWork, step: int, sub: S) -> None:
        event: Any = self.events[step]  # the service's, on its base that declares these fields
        uow.emit(event(subscription_id=sub.id, subscription=self.state(sub)))


# --- fan-out: outbox rows -> delivery rows ---------------------------------------------------


class Follows(Protocol):
    """Whether a subscription follows an outbox row (its type is one of its types is checked already)."""

    def __call__(self, subscription: Any, row: Any, /) -> bool: ...


async def fan_out(
    subscriptions: Subscriptions[Any], deliveries: Deliveries, reader: OutboxReader | None, follows: Follows
) -> tuple[int, int]:
    """Create deliveries for the next settled outbox rows: one per row and active subscription
    that `follows` it, follows its type and existed when it was written. Return how many rows
    were read and how many deliveries that made. The caller commits."""
    after = await deliveries.take_cursor()
    if after is None:
        return 0, 0  # another replica holds the cursor right now
    rows = await deliveries.events_after(reader, after, BATCH)  # type: ignore[arg-type]  # the fakes read none
    if not rows:
        return 0, 0
    active = await subscriptions.active()
    made = [
        {"subscription_id": s.id, "outbox_seq": row.seq, "event_id": row.envelope["id"], "event_type": row.type}
        for row in rows
        for s in active
        if follows(s, row) and (not s.event_types or row.type in s.event_types) and row.created_at >= s.created_at
    ]
    if made:
        await deliveries.add(made)
    await deliveries.move_cursor(rows[-1].seq)
    return len(rows), len(made)


# --- sending ---------------------------------------------------------------------------------


async def record_attempt(
    uow: WebhookUnitOfWork, d: Any, code: int | None, error: str | None, duration_ms: int, *, max_attempts: int
) -> str:
    """Record an attempt at a claimed delivery: `delivered`, `failed` once out of attempts, or else
    `retry` after a backoff that grows with each attempt; return which. The caller commits."""
    if error is None:
        outcome = "delivered"
    elif d.attempts >= max_attempts:
        outcome = "failed"
    else:
        outcome = "retry"
    attempt = uow.deliveries.tables.attempt(
        delivery_id=d.id, attempt=d.attempts, status_code=code, error=error, duration_ms=duration_ms
    )
    await uow.deliveries.record(attempt, outcome, retry_in=timedelta(seconds=backoff(d.attempts)))
    return outcome


class Sender:
    """Claims due deliveries, sends each over one HTTP client, records every attempt, each step
    in a transaction of its own (nothing is held open while a receiver answers)."""

    def __init__(self, db: Database, settings: WebhookSettings, actor: str) -> None:
        self.db = db
        self.settings = settings
        self.actor = actor
        self.lease = timedelta(seconds=settings.webhook_timeout_seconds + 30)
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=10)
        self.client = httpx.AsyncClient(  # every connection to an address checked as it opens (targets.py)
            timeout=settings.webhook_timeout_seconds, follow_redirects=False,
            transport=checked_transport(settings.webhook_allow_private_targets, limits),
            headers={"user-agent": f"gmp-hub-{actor.removeprefix('service:')}/1"},
        )  # fmt: skip

    async def claim(self, limit: int) -> list[sa.Row[Any]]:
        """Take up to `limit` due deliveries for this replica, with what sending them needs."""
        async with self.db.unit_of_work(self.actor) as unit:
            uow = cast(WebhookUnitOfWork, unit)
            claimed = await uow.deliveries.claim(limit, self.lease)
            await uow.commit()
        return list(claimed)

    async def deliver(self, d: sa.Row[Any]) -> None:
        try:
            await self.send(d)
        except Exception:  # the lease expires and the delivery is tried again
            log.exception("webhook delivery %s failed to record", d.id)

    async def send(self, d: sa.Row[Any]) -> None:
        body = json.dumps(d.envelope, separators=(",", ":"), sort_keys=True)
        sent_at = now()
        headers = {
            "content-type": "application/json",
            "webhook-id": d.event_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature_header(
                d.secret, d.previous_secret, d.previous_secret_expires_at, d.event_id, sent_at, body
            ),
        }
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        try:
            response = await self.client.post(d.url, content=body.encode(), headers=headers)
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except TargetRefused as exc:
            error = f"target refused: {exc}"[:500]
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        await self.record(d, code, error, int((time.monotonic() - started) * 1000))

    async def record(self, d: sa.Row[Any], code: int | None, error: str | None, duration_ms: int) -> None:
        async with self.db.unit_of_work(self.actor) as unit:
            uow = cast(WebhookUnitOfWork, unit)
            outcome = await record_attempt(
                uow, d, code, error, duration_ms, max_attempts=self.settings.webhook_max_attempts
            )
            await uow.commit()
        ATTEMPTS.labels(outcome).inc()

    async def next_due_in(self) -> float:
        """How long until a delivery is due: at most the job interval, at least a moment."""
        async with self.db.unit_of_work(self.actor) as unit:
            uow = cast(WebhookUnitOfWork, unit)
            due = await uow.deliveries.next_due_in()
        interval = self.settings.job_interval_seconds
        return interval if due is None else max(0.02, min(due, interval))

    async def close(self) -> None:
        await self.client.aclose()


# --- the background loops --------------------------------------------------------------------

Job = Callable[[ServiceContext], Awaitable[None]]


def webhook_jobs(
    actor: str, fan_out_once: Callable[[Any, OutboxReader], Awaitable[tuple[int, int]]]
) -> tuple[Job, Job]:
    """The service's two webhook loops (run by every replica; safe side by side): `fan_out_webhooks`
    keeps delivery rows up with the outbox, `send_webhooks` sends them. A bell of their own rings
    when the fan-out made deliveries and when a delivery is done (a retry is scheduled, or room
    freed): this replica's senders look at once. Other replicas find them when due."""  # fmt: skip
    new_deliveries = Bell()

    async def fan_out_webhooks(context: ServiceContext) -> None:
        """Woken by every commit of this replica that wrote events."""
        reader = OutboxReader()
        while True:
            ticket = context.db.new_events.ticket()
            async with context.db.unit_of_work(actor) as uow:
                read, made = await fan_out_once(uow, reader)
                await uow.commit()
            if made:
                new_deliveries.ring()
            if read < BATCH:
                await context.db.new_events.wait(context.settings.job_interval_seconds, ticket)

    async def send_webhooks(context: ServiceContext) -> None:
        """Send due deliveries, each in its own task, up to MAX_IN_FLIGHT at once: a dead endpoint
        only ever occupies its own tasks, and others keep being claimed and sent meanwhile."""
        assert isinstance(context.settings, WebhookSettings)  # the service's own (its main.py)
        sender = Sender(context.db, context.settings, actor)
        in_flight: set[asyncio.Task[None]] = set()

        def done(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            new_deliveries.ring()

        try:
            while True:
                ticket = new_deliveries.ticket()
                room = MAX_IN_FLIGHT - len(in_flight)
                for delivery in await sender.claim(room) if room > 0 else []:
                    task = asyncio.create_task(sender.deliver(delivery))
                    in_flight.add(task)
                    task.add_done_callback(done)
                await new_deliveries.wait(await sender.next_due_in(), ticket)
        finally:
            for task in in_flight:
                task.cancel()
            await sender.close()

    return fan_out_webhooks, send_webhooks

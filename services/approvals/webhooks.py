"""Regulators' webhooks: subscriptions, and the two background jobs that deliver to them.

- `fan_out_webhooks` reads new rows of this service's outbox (by seq, from a cursor stored in
  the database) and creates one delivery row per matching subscription.
- `send_webhooks` claims due deliveries (`FOR UPDATE SKIP LOCKED`, then a lease in
  `next_attempt_at`, so replicas never send the same attempt twice and a crashed sender's claim
  simply expires), sends each in its own task with a short timeout, and records the attempt.
  A failure is retried with exponential backoff until `webhook_max_attempts`. A dead endpoint
  only ever occupies its own tasks: others keep being claimed and sent meanwhile.

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
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession
from standardwebhooks import Webhook

from services.approvals import models
from services.approvals.outbox_reader import OutboxReader, authority_of
from services.approvals.signals import Bell, new_events
from services.approvals.targets import TargetRefused, check_target
from shared.database import Database, outbox
from shared.service import ServiceContext
from shared.settings import Settings

log = logging.getLogger(__name__)
CURSOR = "webhooks"
BATCH = 200
MAX_IN_FLIGHT = 50
RETRY_BASE_SECONDS = 1.0  # attempt n waits base * 4**(n-1): 1 s, 4 s, 16 s ... about 1.5 h over 8 attempts
RETRY_CAP_SECONDS = 6 * 3600.0
new_deliveries = Bell()
ATTEMPTS = Counter("gmphub_webhook_attempts_total", "Webhook delivery attempts by outcome", ["outcome"])


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def rotate_secret(subscription: models.Subscription, actor: str, grace: timedelta) -> str:
    """A new secret signs from now on; the current one keeps signing beside it for `grace`. A
    secret rotated out before that stops at once: only one old secret is ever honoured."""
    rotated_at = datetime.now(UTC)
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
    return min(RETRY_BASE_SECONDS * 4 ** (attempts - 1), RETRY_CAP_SECONDS)


# --- fan-out: outbox rows -> delivery rows ---------------------------------------------------


async def fan_out_once(db: Database, reader: OutboxReader) -> int:
    """Create deliveries for the next settled outbox rows; return how many rows were read."""
    async with db.sessions() as session, session.begin():
        await session.execute(insert(models.WebhookCursor).values(name=CURSOR, last_seq=0).on_conflict_do_nothing())
        after = await session.scalar(
            sa.select(models.WebhookCursor.last_seq)
            .where(models.WebhookCursor.name == CURSOR)
            .with_for_update(skip_locked=True)
        )
        if after is None:
            return 0  # another replica holds the cursor right now
        rows = await reader.read(session, after, BATCH)
        if not rows:
            return 0
        subscriptions = list(await session.scalars(sa.select(models.Subscription).where(models.Subscription.active)))
        deliveries = [
            {"subscription_id": s.id, "outbox_seq": row.seq, "event_id": row.envelope["id"], "event_type": row.type}
            for row in rows
            for s in subscriptions
            if s.authority == authority_of(row.envelope)
            and (not s.event_types or row.type in s.event_types)
            and row.created_at >= s.created_at
        ]
        if deliveries:
            now = datetime.now(UTC)
            values = [d | {"id": uuid.uuid4(), "next_attempt_at": now, "created_at": now} for d in deliveries]
            await session.execute(insert(models.Delivery).values(values).on_conflict_do_nothing())
        await session.execute(
            sa.update(models.WebhookCursor).where(models.WebhookCursor.name == CURSOR).values(last_seq=rows[-1].seq)
        )
    if deliveries:
        new_deliveries.ring()
    return len(rows)


async def fan_out_webhooks(context: ServiceContext) -> None:
    """Background job: keep delivery rows up with the outbox."""
    reader = OutboxReader()
    while True:
        ticket = new_events.ticket()
        if await fan_out_once(context.db, reader) < BATCH:
            await new_events.wait(context.settings.job_interval_seconds, ticket)


# --- sending ---------------------------------------------------------------------------------


class Sender:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.lease = timedelta(seconds=settings.webhook_timeout_seconds + 30)
        self.in_flight: set[asyncio.Task] = set()
        self.client = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False,
            limits=httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=10),
            headers={"user-agent": "gmp-hub-approvals-webhooks/1"},
        )  # fmt: skip

    async def claim(self, limit: int) -> list[sa.Row]:
        """Take due deliveries for this replica: lock them, push `next_attempt_at` out by a lease
        and count the attempt, then return what sending needs."""
        due = (
            sa.select(models.Delivery.id)
            .join(models.Subscription, models.Subscription.id == models.Delivery.subscription_id)
            .where(models.Delivery.status == "pending", models.Delivery.next_attempt_at <= sa.func.now())
            .where(models.Subscription.active)
            .order_by(models.Delivery.next_attempt_at)
            .limit(limit)
            .with_for_update(of=models.Delivery, skip_locked=True)
        )
        async with self.db.sessions() as session, session.begin():
            claimed = (
                sa.update(models.Delivery)
                .where(models.Delivery.id.in_(due.scalar_subquery()))
                .values(next_attempt_at=sa.func.now() + self.lease, attempts=models.Delivery.attempts + 1)
                .returning(models.Delivery.id, models.Delivery.subscription_id, models.Delivery.outbox_seq,
                           models.Delivery.event_id, models.Delivery.attempts)
            ).cte("claimed")  # fmt: skip
            result = await session.execute(
                sa.select(
                    claimed,
                    models.Subscription.url,
                    models.Subscription.secret,
                    models.Subscription.previous_secret,
                    models.Subscription.previous_secret_expires_at,
                    outbox.c.envelope,
                )
                .join(models.Subscription, models.Subscription.id == claimed.c.subscription_id)
                .join(outbox, outbox.c.seq == claimed.c.outbox_seq)
            )
            return list(result)

    async def send(self, d: sa.Row) -> None:
        body = json.dumps(d.envelope, separators=(",", ":"), sort_keys=True)
        sent_at = datetime.now(UTC)
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
            await check_target(d.url, self.settings.webhook_allow_private_targets)
            response = await self.client.post(d.url, content=body.encode(), headers=headers)
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except TargetRefused as exc:
            error = f"target refused: {exc}"[:500]
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        await self.record(d, code, error, int((time.monotonic() - started) * 1000))

    async def record(self, d: sa.Row, code: int | None, error: str | None, duration_ms: int) -> None:
        if error is None:
            values: dict = {"status": "delivered", "delivered_at": sa.func.now()}
        elif d.attempts >= self.settings.webhook_max_attempts:
            values = {"status": "failed"}
        else:
            values = {"next_attempt_at": sa.func.now() + timedelta(seconds=backoff(d.attempts))}
        ATTEMPTS.labels("delivered" if error is None else values.get("status", "retry")).inc()
        async with self.db.sessions() as session, session.begin():
            updated = await session.execute(
                sa.update(models.Delivery)
                .where(models.Delivery.id == d.id, models.Delivery.status == "pending")
                .values(last_status_code=code, last_error=error, **values)
            )
            if updated.rowcount:
                session.add(
                    models.DeliveryAttempt(
                        delivery_id=d.id, attempt=d.attempts, status_code=code, error=error, duration_ms=duration_ms
                    )
                )

    async def next_due_in(self) -> float:
        async with self.db.sessions() as session:
            due = await session.scalar(
                sa.select(sa.func.extract("epoch", sa.func.min(models.Delivery.next_attempt_at) - sa.func.now())).where(
                    models.Delivery.status == "pending"
                )
            )
        interval = self.settings.job_interval_seconds
        return interval if due is None else max(0.02, min(float(due), interval))

    async def run(self) -> None:
        try:
            while True:
                ticket = new_deliveries.ticket()
                room = MAX_IN_FLIGHT - len(self.in_flight)
                for d in await self.claim(room) if room > 0 else []:
                    task = asyncio.create_task(self._send_logged(d))
                    self.in_flight.add(task)
                    task.add_done_callback(self._done)
                await new_deliveries.wait(await self.next_due_in(), ticket)
        finally:
            for task in self.in_flight:
                task.cancel()
            await self.client.aclose()

    def _done(self, task: asyncio.Task) -> None:
        self.in_flight.discard(task)
        new_deliveries.ring()  # a retry is now scheduled, or room freed: look again

    async def _send_logged(self, d: sa.Row) -> None:
        try:
            await self.send(d)
        except Exception:  # the lease expires and the delivery is tried again
            log.exception("webhook delivery %s failed to record", d.id)


async def send_webhooks(context: ServiceContext) -> None:
    """Background job: send due webhook deliveries."""
    await Sender(context.db, context.settings).run()


async def deactivate(session: AsyncSession, subscription: models.Subscription) -> None:
    subscription.active = False
    subscription.deactivated_at = datetime.now(UTC)
    session.add(subscription)
    await session.execute(
        sa.update(models.Delivery)
        .where(models.Delivery.subscription_id == subscription.id, models.Delivery.status == "pending")
        .values(status="cancelled")
    )

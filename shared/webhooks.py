"""Webhooks, as every service that offers subscriptions delivers them: what delivering an event
of the service's outbox to a subscription takes. Each service keeps its own tables
(webhook_store.py) and says which subscription follows which event; the rest is here.

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
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import httpx
import sqlalchemy as sa
from prometheus_client import Counter
from standardwebhooks import Webhook

from shared.database import Bell, Database, Pace
from shared.outbox_reader import OutboxReader
from shared.service import BackgroundJob, ServiceContext
from shared.settings import Settings
from shared.targets import TargetRefused, checked_transport
from shared.webhook_store import SubscriptionFields, WebhookUnitOfWork, now

log = logging.getLogger(__name__)
BATCH = 200
MAX_IN_FLIGHT = 50
# Under load a round per commit was six statements per hold for what is, without subscriptions,
# moving a cursor; a tenth of a second apart, a burst of holds shares one round.
FAN_OUT_PACE = 0.1
RETRY_BASE_SECONDS = 1.0  # attempt n waits base * 4**(n-1): 1 s, 4 s, 16 s ... about 1.5 h over 8 attempts
RETRY_CAP_SECONDS = 6 * 3600.0
ATTEMPTS = Counter("gmphub_webhook_attempts_total", "Webhook delivery attempts by outcome", ["outcome"])


class WebhookSettings(Settings):
    """The settings of a service that delivers webhooks (`GMPHUB_WEBHOOK_*`)."""

    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 8
    webhook_secret_grace_seconds: int = 86400  # a rotated-out secret keeps signing this long
    webhook_allow_private_targets: bool = False  # `gmp-hub up` allows them: receivers on this machine


def webhook_settings(context: ServiceContext) -> WebhookSettings:
    """The running service's webhook settings: its own settings extend these (its main.py)."""
    assert isinstance(context.settings, WebhookSettings)
    return context.settings


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


# --- fan-out: outbox rows -> delivery rows ---------------------------------------------------


class Follows(Protocol):
    """Whether a subscription follows an outbox row (beside its types, which fan_out checks)."""

    def __call__(self, subscription: Any, row: Any, /) -> bool: ...


async def fan_out(uow: WebhookUnitOfWork, reader: OutboxReader, follows: Follows) -> tuple[int, int]:
    """Create deliveries for the next settled outbox rows: one per row and active subscription
    that `follows` it, follows its type and existed when it was written. Return how many rows
    were read and how many deliveries that made. The caller commits."""
    deliveries = uow.deliveries
    after = await deliveries.take_cursor()
    if after is None:
        return 0, 0  # another replica holds the cursor right now
    active = await uow.subscriptions.active()
    # With no subscription, the rows only move the cursor on: their envelopes are not read (a
    # scheduling replica fans out after every hold's commit).
    rows = await deliveries.events_after(reader, after, BATCH, envelopes=bool(active))
    if not rows:
        return 0, 0
    made = [
        {"subscription_id": s.id, "outbox_seq": row.seq, "event_id": row.envelope["id"], "event_type": row.type}
        for row in rows
        for s in active
        if (not s.event_types or row.type in s.event_types) and row.created_at >= s.created_at and follows(s, row)
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
            error = f"{type(exc).__name__}: {exc}"[:500]
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


def webhook_jobs(actor: str, follows: Follows) -> tuple[BackgroundJob, BackgroundJob]:
    """The service's two webhook loops (run by every replica; safe side by side): `fan_out_webhooks`
    keeps delivery rows up with the outbox for the subscriptions that `follow` its rows,
    `send_webhooks` sends them. A bell of their own rings
    when the fan-out made deliveries and when a delivery is done (a retry is scheduled, or room
    freed): this replica's senders look at once. Other replicas find them when due."""  # fmt: skip
    new_deliveries = Bell()

    async def fan_out_webhooks(context: ServiceContext) -> None:
        """Woken by every commit of this replica that wrote events, at most FAN_OUT_PACE apart."""
        reader, pace = OutboxReader(), Pace(FAN_OUT_PACE)
        while True:
            ticket = context.db.new_events.ticket()
            async with context.db.unit_of_work(actor) as uow:
                read, made = await fan_out(cast(WebhookUnitOfWork, uow), reader, follows)
                await uow.commit()
            if made:
                new_deliveries.ring()
            if read < BATCH:  # caught up: wait for commits (a backlog is read batch after batch)
                await context.db.new_events.wait(context.settings.job_interval_seconds, ticket)
                await pace.round()

    async def send_webhooks(context: ServiceContext) -> None:
        """Send due deliveries, each in its own task, up to MAX_IN_FLIGHT at once: a dead endpoint
        only ever occupies its own tasks, and others keep being claimed and sent meanwhile."""
        sender = Sender(context.db, webhook_settings(context), actor)
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

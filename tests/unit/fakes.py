"""What every service's in-memory unit of work shares with the real one (shared.database.UnitOfWork):
the actor, `emit`, `commit`, use as a context manager. Each service's fakes.py adds its repositories."""

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Self
from uuid import UUID

from shared.events import Event
from shared.outbox_reader import OutboxReader
from shared.webhook_store import DeliveryAttemptFields, S, WebhookTables


class InMemoryUnitOfWork:
    """Events emitted wait in `pending` and a commit moves them to `published`, as the real unit of
    work writes them to the outbox only with the commit; `events` keeps all, in order."""

    def __init__(self, actor: str | None) -> None:
        self.actor = actor
        self.events: list[Event] = []
        self.pending: list[Event] = []
        self.published: list[Event] = []
        self.committed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.pending = []  # like the real one: what was not committed is gone

    def emit(self, *events: Event) -> None:
        self.events.extend(events)
        self.pending.extend(events)

    async def commit(self) -> None:
        self.committed = True
        self.published += self.pending
        self.pending = []


class FakeSubscriptions:
    """A service's webhook subscriptions (shared/webhooks.py Subscriptions), in memory."""

    def __init__(self) -> None:
        self.rows: dict[UUID, Any] = {}

    def add(self, subscription: S) -> None:
        self.rows[subscription.id] = subscription

    async def lock(self, subscription_id: UUID) -> Any:
        return self.rows.get(subscription_id)

    async def active(self) -> list[Any]:
        return [s for s in self.rows.values() if s.active]


class OutboxRow(NamedTuple):
    seq: int
    type: str
    key: str
    envelope: dict[str, Any] | None
    created_at: datetime


class Claimed(NamedTuple):
    """A claimed delivery with what sending it needs, as the real claim selects it."""

    id: UUID
    subscription_id: UUID
    outbox_seq: int
    event_id: str
    attempts: int
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    envelope: dict[str, Any]


class FakeDeliveries:
    """A service's webhook deliveries (shared/webhooks.py Deliveries), rows of its own tables."""

    def __init__(self, subscriptions: FakeSubscriptions, tables: WebhookTables) -> None:
        self.subscriptions = subscriptions
        self.tables = tables
        self.outbox: list[OutboxRow] = []  # what the service's outbox holds, in seq order
        self.cursor = 0
        self.rows: dict[UUID, Any] = {}
        self.attempts: list[Any] = []

    async def take_cursor(self) -> int | None:
        return self.cursor

    async def move_cursor(self, last_seq: int) -> None:
        self.cursor = last_seq

    async def events_after(
        self, reader: OutboxReader, after: int, limit: int, *, envelopes: bool = True
    ) -> list[OutboxRow]:
        rows = [row for row in self.outbox if row.seq > after][:limit]
        return rows if envelopes else [row._replace(envelope=None) for row in rows]

    async def add(self, deliveries: list[dict[str, Any]]) -> None:
        made = {(d.subscription_id, d.outbox_seq) for d in self.rows.values()}
        for values in deliveries:
            if (values["subscription_id"], values["outbox_seq"]) not in made:
                delivery = self.tables.delivery(**values, next_attempt_at=datetime.now(UTC))
                self.rows[delivery.id] = delivery

    async def claim(self, limit: int, lease: timedelta) -> list[Claimed]:
        now = datetime.now(UTC)
        subscriptions = self.subscriptions.rows
        due = sorted(
            (
                d for d in self.rows.values()
                if d.status == "pending" and d.next_attempt_at <= now and subscriptions[d.subscription_id].active
            ),
            key=lambda d: d.next_attempt_at,
        )[:limit]  # fmt: skip
        envelopes = {row.seq: row.envelope for row in self.outbox}
        claimed = []
        for d in due:
            d.next_attempt_at, d.attempts = now + lease, d.attempts + 1
            sub = subscriptions[d.subscription_id]
            claimed.append(
                Claimed(
                    d.id,
                    d.subscription_id,
                    d.outbox_seq,
                    d.event_id,
                    d.attempts,
                    sub.url,
                    sub.secret,
                    sub.previous_secret,
                    sub.previous_secret_expires_at,
                    envelopes[d.outbox_seq],
                )  # fmt: skip
            )
        return claimed

    async def record(self, attempt: DeliveryAttemptFields, outcome: str, *, retry_in: timedelta) -> None:
        delivery = self.rows[attempt.delivery_id]
        if delivery.status != "pending":
            return
        delivery.last_status_code, delivery.last_error = attempt.status_code, attempt.error
        if outcome == "retry":
            delivery.next_attempt_at = datetime.now(UTC) + retry_in
        else:
            delivery.status = outcome
            delivery.delivered_at = datetime.now(UTC) if outcome == "delivered" else None
        self.attempts.append(attempt)

    async def next_due_in(self) -> float | None:
        pending = [d.next_attempt_at for d in self.rows.values() if d.status == "pending"]
        return (min(pending) - datetime.now(UTC)).total_seconds() if pending else None

    async def cancel_pending(self, subscription_id: UUID) -> None:
        for d in self.rows.values():
            if d.subscription_id == subscription_id and d.status == "pending":
                d.status = "cancelled"

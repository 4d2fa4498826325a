"""An in-memory unit of work with the approvals repositories, for use cases without a database.
The rows are the service's own models, kept in dicts and lists; locking is a look-up, and the
events a use case emits are `published` once it commits. The fake selects rows as the SQL does;
locks (the tree's FOR UPDATE, the deliveries' SKIP LOCKED) it leaves to tests/integration/approvals."""

from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from services.approvals import domain, models
from services.approvals.outbox_reader import OutboxReader
from tests.unit.fakes import InMemoryUnitOfWork


class FakeApprovals:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.Approval] = {}

    def add(self, row: models.Approval) -> None:
        self.rows[row.id] = row

    async def root_of(self, approval_id: UUID) -> UUID | None:
        row = self.rows.get(approval_id)
        return row.root_id if row else None

    async def lock_tree(self, root_id: UUID) -> list[models.Approval]:
        return sorted((r for r in self.rows.values() if r.root_id == root_id), key=lambda r: r.id)

    async def due_for_expiry(self, today: date, limit: int) -> list[UUID]:
        standing = {s.value for s in domain.STANDING}
        due = [r.id for r in self.rows.values() if r.valid_until and r.valid_until < today and r.status in standing]
        return due[:limit]


class FakeLetters:
    def __init__(self) -> None:
        self.rows: list[models.LetterOfAccess] = []

    def add(self, letter: models.LetterOfAccess) -> None:
        self.rows.append(letter)

    async def live_on(self, approval_ids: list[UUID]) -> list[models.LetterOfAccess]:
        return [r for r in self.rows if r.approval_id in approval_ids and r.revoked_at is None]

    async def lock(self, approval_id: UUID, grantee_org_id: str) -> list[models.LetterOfAccess]:
        return [r for r in self.rows if r.approval_id == approval_id and r.grantee_org_id == grantee_org_id]


class FakeDecisions:
    def __init__(self) -> None:
        self.rows: list[models.Decision] = []

    def add(self, decision: models.Decision) -> None:
        self.rows.append(decision)


class FakeChangeNotifications:
    def __init__(self, approvals: FakeApprovals) -> None:
        self.approvals = approvals
        self.rows: dict[UUID, models.ChangeNotification] = {}

    def add(self, notification: models.ChangeNotification) -> None:
        self.rows[notification.id] = notification

    async def get(self, notification_id: UUID) -> models.ChangeNotification | None:
        return self.rows.get(notification_id)

    async def lock(self, notification_id: UUID) -> models.ChangeNotification | None:
        return self.rows.get(notification_id)

    async def newly_overdue(self, limit: int) -> list[tuple[models.ChangeNotification, models.Approval]]:
        now = datetime.now(UTC)
        due = [r for r in self.rows.values() if r.impact is None and r.overdue_at is None and r.due_at < now]
        return [(r, self.approvals.rows[r.approval_id]) for r in sorted(due, key=lambda r: (r.due_at, r.id))[:limit]]

    async def outstanding_for(self, approval_id: UUID) -> list[UUID]:
        found = [r for r in self.rows.values() if r.approval_id == approval_id and r.impact is None]
        return [r.id for r in sorted(found, key=lambda r: r.sent_at)]


class FakeSubscriptions:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.Subscription] = {}

    def add(self, subscription: models.Subscription) -> None:
        self.rows[subscription.id] = subscription

    async def lock(self, subscription_id: UUID) -> models.Subscription | None:
        return self.rows.get(subscription_id)

    async def active(self) -> list[models.Subscription]:
        return [s for s in self.rows.values() if s.active]


class OutboxRow(NamedTuple):
    seq: int
    type: str
    key: str
    envelope: dict[str, Any]
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
    def __init__(self, subscriptions: FakeSubscriptions) -> None:
        self.subscriptions = subscriptions
        self.outbox: list[OutboxRow] = []  # what the service's outbox holds, in seq order
        self.cursor = 0
        self.rows: dict[UUID, models.Delivery] = {}
        self.attempts: list[models.DeliveryAttempt] = []

    async def take_cursor(self) -> int | None:
        return self.cursor

    async def move_cursor(self, last_seq: int) -> None:
        self.cursor = last_seq

    async def events_after(self, reader: OutboxReader, after: int, limit: int) -> list[OutboxRow]:
        return [row for row in self.outbox if row.seq > after][:limit]

    async def add(self, deliveries: list[dict]) -> None:
        made = {(d.subscription_id, d.outbox_seq) for d in self.rows.values()}
        for values in deliveries:
            if (values["subscription_id"], values["outbox_seq"]) not in made:
                delivery = models.Delivery(**values, next_attempt_at=datetime.now(UTC))
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

    async def record(self, attempt: models.DeliveryAttempt, outcome: str, *, retry_in: timedelta) -> None:
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


class FakeUnitOfWork(InMemoryUnitOfWork):
    """The approvals unit of work, in memory: what one test's use cases share."""

    def __init__(self, actor: str = "developer:dev-1") -> None:
        super().__init__(actor)
        self.approvals = FakeApprovals()
        self.letters = FakeLetters()
        self.decisions = FakeDecisions()
        self.notifications = FakeChangeNotifications(self.approvals)
        self.subscriptions = FakeSubscriptions()
        self.deliveries = FakeDeliveries(self.subscriptions)

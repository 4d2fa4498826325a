"""An in-memory unit of work with the approvals repositories, for use cases without a database.
The rows are the service's own models, kept in dicts and lists; locking is a look-up, and the
events a use case emits are `published` once it commits. Deliveries hold what fan-out and ending
a subscription change; claiming and sending them (leases, SKIP LOCKED) need PostgreSQL and are
proved by tests/integration/approvals."""

from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID

from services.approvals import domain, models
from services.approvals.outbox_reader import OutboxReader
from shared.events import Event


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


class FakeDeliveries:
    def __init__(self) -> None:
        self.outbox: list[OutboxRow] = []  # what the service's outbox holds, in seq order
        self.cursor = 0
        self.rows: list[dict[str, Any]] = []
        self.cancelled_for: list[UUID] = []

    async def take_cursor(self) -> int | None:
        return self.cursor

    async def move_cursor(self, last_seq: int) -> None:
        self.cursor = last_seq

    async def events_after(self, reader: OutboxReader, after: int, limit: int) -> list[OutboxRow]:
        return [row for row in self.outbox if row.seq > after][:limit]

    async def add(self, deliveries: list[dict[str, Any]]) -> None:
        self.rows += [d for d in deliveries if d not in self.rows]

    async def cancel_pending(self, subscription_id: UUID) -> None:
        self.cancelled_for.append(subscription_id)


class FakeUnitOfWork:
    """The approvals unit of work, in memory: what one test's use cases share."""

    def __init__(self, actor: str = "developer:dev-1") -> None:
        self.actor: str | None = actor
        self.approvals = FakeApprovals()
        self.letters = FakeLetters()
        self.decisions = FakeDecisions()
        self.subscriptions = FakeSubscriptions()
        self.deliveries = FakeDeliveries()
        self.pending: list[Event] = []
        self.published: list[Event] = []

    def emit(self, *events: Event) -> None:
        self.pending.extend(events)

    async def commit(self) -> None:
        self.published += self.pending
        self.pending = []

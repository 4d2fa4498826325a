"""An in-memory unit of work with the approvals repositories, for use cases without a database.
The rows are the service's own models, kept in dicts and lists; locking is a look-up, and the
events a use case emits are `published` once it commits. The fake selects rows as the SQL does;
locks (the tree's FOR UPDATE, the deliveries' SKIP LOCKED) it leaves to tests/integration/approvals."""

from datetime import UTC, date, datetime
from uuid import UUID

from services.approvals import domain, models
from tests.unit.fakes import FakeDeliveries, FakeSubscriptions, InMemoryUnitOfWork
from tests.unit.fakes import OutboxRow as OutboxRow  # the deliveries' tests write the outbox


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


class FakeUnitOfWork(InMemoryUnitOfWork):
    """The approvals unit of work, in memory: what one test's use cases share."""

    def __init__(self, actor: str = "developer:dev-1") -> None:
        super().__init__(actor)
        self.approvals = FakeApprovals()
        self.letters = FakeLetters()
        self.decisions = FakeDecisions()
        self.notifications = FakeChangeNotifications(self.approvals)
        self.subscriptions = FakeSubscriptions()
        self.deliveries = FakeDeliveries(self.subscriptions, models.WEBHOOK_TABLES)

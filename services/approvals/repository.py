"""The approvals unit of work and its repositories: the SQL that loads and saves what the use
cases change. Rows loaded here are saved by the unit of work's commit (the session tracks them);
new rows are added. Unit tests swap in tests/unit/approvals/fakes.py."""

from datetime import date
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.approvals import domain, models
from shared import webhook_store
from shared.database import UnitOfWork


def to_domain(row: models.Approval) -> domain.Approval:
    return domain.Approval(
        id=row.id, level=domain.Level(row.level), covers=domain.Covers(row.covers), title=row.title,
        holder_org_id=row.holder_org_id, authority=row.authority, parent_id=row.parent_id, root_id=row.root_id,
        facility_ids=list(row.facility_ids), relied_on_parts=list(row.relied_on_parts),
        assessment=dict(row.assessment), status=domain.Status(row.status), version=row.version,
        needs_reconfirmation=row.needs_reconfirmation, suspended_by=row.suspended_by, valid_until=row.valid_until,
    )  # fmt: skip


class Approvals:
    """Approval rows. A change locks the whole tree first (its rows in id order), so cascades are
    serialised per tree."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: models.Approval) -> None:
        self.session.add(row)

    async def root_of(self, approval_id: UUID) -> UUID | None:
        return await self.session.scalar(sa.select(models.Approval.root_id).where(models.Approval.id == approval_id))

    async def lock_tree(self, root_id: UUID) -> list[models.Approval]:
        result = await self.session.exec(
            select(models.Approval).where(models.Approval.root_id == root_id).order_by(col(models.Approval.id))
            .with_for_update()
        )  # fmt: skip
        return list(result)

    async def due_for_expiry(self, today: date, limit: int) -> list[UUID]:
        result = await self.session.exec(
            select(models.Approval.id)
            .where(col(models.Approval.valid_until) < today)
            .where(col(models.Approval.status).in_([s.value for s in domain.STANDING]))
            .limit(limit)
        )
        return list(result)


class Letters:
    """Letters of access: who may build on an approval."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, letter: models.LetterOfAccess) -> None:
        self.session.add(letter)

    async def live_on(self, approval_ids: list[UUID]) -> list[models.LetterOfAccess]:
        """Live letters only: a revoked one grants nothing."""
        result = await self.session.exec(
            select(models.LetterOfAccess)
            .where(col(models.LetterOfAccess.approval_id).in_(approval_ids))
            .where(col(models.LetterOfAccess.revoked_at).is_(None))
        )
        return list(result)

    async def lock(self, approval_id: UUID, grantee_org_id: str) -> list[models.LetterOfAccess]:
        """Every letter (revoked ones too) the grantee holds on the approval, locked."""
        result = await self.session.exec(
            select(models.LetterOfAccess)
            .where(models.LetterOfAccess.approval_id == approval_id, models.LetterOfAccess.grantee_org_id == grantee_org_id)
            .with_for_update()
        )  # fmt: skip
        return list(result)


class Decisions:
    """The signed decisions: insert-only (a trigger refuses changes)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, decision: models.Decision) -> None:
        self.session.add(decision)


class ChangeNotifications:
    """Change notifications to the holders below a change, and their signed answers."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, notification: models.ChangeNotification) -> None:
        self.session.add(notification)

    async def get(self, notification_id: UUID) -> models.ChangeNotification | None:
        """Read unlocked: who may answer is known before the notified approval's tree is locked."""
        return await self.session.get(models.ChangeNotification, notification_id)

    async def lock(self, notification_id: UUID) -> models.ChangeNotification | None:
        return await self.session.get(
            models.ChangeNotification, notification_id, with_for_update=True, populate_existing=True
        )

    async def newly_overdue(self, limit: int) -> list[tuple[models.ChangeNotification, models.Approval]]:
        """Unanswered past due and not yet flagged, each with its approval, locked; those another
        replica holds are skipped (it flags them)."""
        n = models.ChangeNotification
        result = await self.session.exec(
            select(n, models.Approval)
            .join(models.Approval, col(models.Approval.id) == col(n.approval_id))
            .where(col(n.impact).is_(None), col(n.overdue_at).is_(None), col(n.due_at) < sa.func.now())
            .order_by(col(n.due_at), col(n.id))
            .limit(limit)
            .with_for_update(of=n, skip_locked=True)  # type: ignore[arg-type]
        )
        return [(notification, approval) for notification, approval in result]

    async def outstanding_for(self, approval_id: UUID) -> list[UUID]:
        result = await self.session.exec(
            select(models.ChangeNotification.id)
            .where(models.ChangeNotification.approval_id == approval_id)
            .where(col(models.ChangeNotification.impact).is_(None))
            .order_by(col(models.ChangeNotification.sent_at))
        )
        return list(result)


class ApprovalsUnitOfWork(UnitOfWork):
    """One transaction over approval trees, their letters, signed decisions and change
    notifications, and the regulators' webhook subscriptions with their deliveries."""

    def attach(self, session: AsyncSession) -> None:
        self.approvals = Approvals(session)
        self.letters = Letters(session)
        self.decisions = Decisions(session)
        self.notifications = ChangeNotifications(session)
        self.subscriptions = webhook_store.Subscriptions(session, models.Subscription)
        self.deliveries = webhook_store.Deliveries(session, models.WEBHOOK_TABLES)

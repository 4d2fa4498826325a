"""The approvals unit of work and its repositories: the SQL that loads and saves what the use
cases change. Rows loaded here are saved by the unit of work's commit (the session tracks them);
new rows are added. Unit tests swap in tests/unit/approvals/fakes.py."""

import uuid
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.approvals import domain, models
from services.approvals.outbox_reader import OutboxReader
from shared.database import UnitOfWork, outbox

WEBHOOK_CURSOR = "webhooks"


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


class Subscriptions:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, subscription: models.Subscription) -> None:
        self.session.add(subscription)

    async def lock(self, subscription_id: UUID) -> models.Subscription | None:
        return await self.session.get(models.Subscription, subscription_id, with_for_update=True)

    async def active(self) -> list[models.Subscription]:
        return list(await self.session.exec(select(models.Subscription).where(col(models.Subscription.active))))


class Deliveries:
    """Webhook deliveries: one per event and subscription, created from the outbox behind a cursor,
    claimed by the senders under a lease."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def take_cursor(self) -> int | None:
        """The outbox seq the fan-out read up to, locked; None while another replica holds it."""
        cursor = models.WebhookCursor
        await self.session.execute(insert(cursor).values(name=WEBHOOK_CURSOR, last_seq=0).on_conflict_do_nothing())
        return await self.session.scalar(
            sa.select(cursor.last_seq).where(cursor.name == WEBHOOK_CURSOR).with_for_update(skip_locked=True)
        )

    async def move_cursor(self, last_seq: int) -> None:
        cursor = models.WebhookCursor
        await self.session.execute(sa.update(cursor).where(cursor.name == WEBHOOK_CURSOR).values(last_seq=last_seq))

    async def events_after(self, reader: OutboxReader, after: int, limit: int) -> list[sa.Row]:
        return await reader.read(self.session, after, limit)

    async def add(self, deliveries: list[dict]) -> None:
        """New pending deliveries, due now; one already made for its event and subscription is kept."""
        now = datetime.now(UTC)
        values = [d | {"id": uuid.uuid4(), "next_attempt_at": now, "created_at": now} for d in deliveries]
        await self.session.execute(insert(models.Delivery).values(values).on_conflict_do_nothing())

    async def claim(self, limit: int, lease: timedelta) -> list[sa.Row]:
        """Take due deliveries of active subscriptions (skipping those another replica holds),
        push their `next_attempt_at` out by `lease` and count the attempt; return what sending
        needs: the delivery, its subscription's URL and secrets, the event's envelope."""
        delivery, subscription = models.Delivery, models.Subscription
        due = (
            sa.select(delivery.id)
            .join(subscription, subscription.id == delivery.subscription_id)
            .where(delivery.status == "pending", delivery.next_attempt_at <= sa.func.now())
            .where(subscription.active)
            .order_by(delivery.next_attempt_at)
            .limit(limit)
            .with_for_update(of=delivery, skip_locked=True)
        )
        claimed = (
            sa.update(delivery)
            .where(delivery.id.in_(due.scalar_subquery()))
            .values(next_attempt_at=sa.func.now() + lease, attempts=delivery.attempts + 1)
            .returning(delivery.id, delivery.subscription_id, delivery.outbox_seq, delivery.event_id, delivery.attempts)
        ).cte("claimed")
        result = await self.session.execute(
            sa.select(
                claimed, subscription.url, subscription.secret, subscription.previous_secret,
                subscription.previous_secret_expires_at, outbox.c.envelope,
            )
            .join(subscription, subscription.id == claimed.c.subscription_id)
            .join(outbox, outbox.c.seq == claimed.c.outbox_seq)
        )  # fmt: skip
        return list(result)

    async def record(self, attempt: models.DeliveryAttempt, outcome: str, *, retry_in: timedelta) -> None:
        """The attempt, and its delivery `delivered`, `failed` (out of attempts) or due again
        after `retry_in` (`retry`); unless the delivery is no longer pending (its subscription
        ended meanwhile)."""
        delivery = models.Delivery
        values: dict = {
            "delivered": {"status": "delivered", "delivered_at": sa.func.now()},
            "failed": {"status": "failed"},
            "retry": {"next_attempt_at": sa.func.now() + retry_in},
        }[outcome]
        updated = await self.session.execute(
            sa.update(delivery)
            .where(delivery.id == attempt.delivery_id, delivery.status == "pending")
            .values(last_status_code=attempt.status_code, last_error=attempt.error, **values)
        )
        if updated.rowcount:  # type: ignore[attr-defined]  # an UPDATE's CursorResult
            self.session.add(attempt)

    async def next_due_in(self) -> float | None:
        """Seconds until the earliest pending delivery is due (negative if overdue); None if none is."""
        due = await self.session.scalar(
            sa.select(
                sa.func.extract("epoch", sa.func.min(models.Delivery.next_attempt_at) - sa.func.now())
            ).where(models.Delivery.status == "pending")
        )  # fmt: skip
        return None if due is None else float(due)

    async def cancel_pending(self, subscription_id: UUID) -> None:
        await self.session.execute(
            sa.update(models.Delivery)
            .where(models.Delivery.subscription_id == subscription_id, models.Delivery.status == "pending")
            .values(status="cancelled")
        )


class ApprovalsUnitOfWork(UnitOfWork):
    """One transaction over approval trees, their letters, signed decisions and change
    notifications, and the regulators' webhook subscriptions with their deliveries."""

    def attach(self, session: AsyncSession) -> None:
        self.approvals = Approvals(session)
        self.letters = Letters(session)
        self.decisions = Decisions(session)
        self.notifications = ChangeNotifications(session)
        self.subscriptions = Subscriptions(session)
        self.deliveries = Deliveries(session)

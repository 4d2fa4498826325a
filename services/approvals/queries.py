"""Reads: who sees which approvals, search, the tree around one approval, its history, decisions
and letters; the subscriptions a regulator sees with their deliveries; the approval event stream."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.approvals import domain, models
from services.approvals.repository import to_domain
from shared.auth import Principal, Role
from shared.database import event_history, get_or_404
from shared.problems import Forbidden, NotFound


def visible(principal: Principal) -> sa.ColumnElement[bool]:
    """A developer sees its org's approvals and those it holds a live letter of access to; a
    regulator what was filed with its authority; the admin everything."""
    if principal.is_admin:
        return sa.true()
    if principal.role is Role.REGULATOR:
        return models.Approval.authority == principal.authority
    if principal.role is Role.DEVELOPER:
        letters = sa.select(models.LetterOfAccess.approval_id).where(
            models.LetterOfAccess.grantee_org_id == principal.org_id, models.LetterOfAccess.revoked_at.is_(None)
        )
        return sa.or_(models.Approval.holder_org_id == principal.org_id, models.Approval.id.in_(letters))
    raise Forbidden("Approvals are for developers, regulators and the hub operator.")


async def visible_row(session: AsyncSession, principal: Principal, approval_id: UUID) -> models.Approval:
    """The approval, or 404 alike for one that does not exist and one the caller may not see."""
    found = await session.scalar(
        sa.select(sa.func.count()).where(models.Approval.id == approval_id).where(visible(principal))
    )
    if not found:
        raise NotFound(f"No approval {approval_id} that this token may see.")
    return await get_or_404(session, models.Approval, approval_id, "approval")


@dataclass(frozen=True)
class SearchFilter:
    holder_org_id: str | None = None
    authority: str | None = None
    status: str | None = None
    facility_id: UUID | None = None
    covers: str | None = None
    text: str | None = None  # product or title, case-insensitive
    parent_id: UUID | None = None
    limit: int = 50
    offset: int = 0


async def search(session: AsyncSession, principal: Principal, f: SearchFilter) -> list[models.Approval]:
    query = select(models.Approval).where(visible(principal))
    for column, value in (
        (models.Approval.holder_org_id, f.holder_org_id), (models.Approval.authority, f.authority),
        (models.Approval.status, f.status), (models.Approval.covers, f.covers),
        (models.Approval.parent_id, f.parent_id),
    ):  # fmt: skip
        if value is not None:
            query = query.where(column == value)
    if f.facility_id is not None:
        query = query.where(models.Approval.facility_ids.contains([f.facility_id]))  # type: ignore[attr-defined]
    if f.text:
        escaped = f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(models.Approval.title.ilike(f"%{escaped}%"))  # type: ignore[attr-defined]
    query = query.order_by(models.Approval.created_at.desc(), models.Approval.id).offset(f.offset).limit(f.limit)  # type: ignore[attr-defined]
    return list(await session.exec(query))


async def tree_around(
    session: AsyncSession, principal: Principal, row: models.Approval
) -> tuple[list[models.Approval], list[tuple[models.Approval, int]]]:
    """Its ancestors (root first; always shown, a child stands on them) and the descendants the
    caller may see, each with its depth below this approval."""
    rows = {r.id: r for r in await session.exec(select(models.Approval).where(models.Approval.root_id == row.root_id))}
    seen = set(
        await session.exec(
            select(models.Approval.id).where(models.Approval.root_id == row.root_id).where(visible(principal))
        )
    )
    tree = domain.Tree([to_domain(r) for r in rows.values()])
    ancestors = [rows[a.id] for a in reversed(tree.ancestors(tree[row.id]))]
    depth = {row.id: 0}
    descendants = []
    for node in tree.descendants(tree[row.id]):
        depth[node.id] = depth[node.parent_id] + 1  # type: ignore[index]
        if node.id in seen:
            descendants.append((rows[node.id], depth[node.id]))
    return ancestors, sorted(descendants, key=lambda d: (d[1], d[0].created_at))


async def parent_of(session: AsyncSession, row: models.Approval) -> models.Approval | None:
    return await session.get(models.Approval, row.parent_id) if row.parent_id else None


async def history(session: AsyncSession, principal: Principal, approval_id: UUID) -> list[dict[str, Any]]:
    """Every event of the approval, oldest first (its audit trail), if the caller may see it."""
    await visible_row(session, principal, approval_id)
    return await event_history(session, str(approval_id))


async def decisions(session: AsyncSession, approval_id: UUID) -> list[models.Decision]:
    result = await session.exec(
        select(models.Decision).where(models.Decision.approval_id == approval_id).order_by(models.Decision.signed_at)  # type: ignore[arg-type]
    )
    return list(result)


async def letters(session: AsyncSession, approval_id: UUID) -> list[models.LetterOfAccess]:
    result = await session.exec(
        select(models.LetterOfAccess)
        .where(models.LetterOfAccess.approval_id == approval_id)
        .order_by(models.LetterOfAccess.granted_at)  # type: ignore[arg-type]
    )
    return list(result)


# --- change notifications --------------------------------------------------------------------


def notifications_visible(principal: Principal) -> sa.ColumnElement[bool]:
    """The holder its own; a regulator those about approvals filed with its authority; the admin all."""
    if principal.is_admin:
        return sa.true()
    if principal.role is Role.REGULATOR:
        return models.ChangeNotification.authority == principal.authority
    if principal.role is Role.DEVELOPER:
        return models.ChangeNotification.holder_org_id == principal.org_id
    raise Forbidden("Change notifications are for developers, regulators and the hub operator.")


@dataclass(frozen=True)
class NotificationFilter:
    status: str | None = None  # outstanding | acknowledged
    overdue: bool | None = None  # outstanding past due_at (True), or not (False)
    approval_id: UUID | None = None
    changed_approval_id: UUID | None = None
    holder_org_id: str | None = None
    authority: str | None = None
    change: str | None = None
    limit: int = 50
    offset: int = 0


async def change_notifications(
    session: AsyncSession, principal: Principal, f: NotificationFilter
) -> list[models.ChangeNotification]:
    """Oldest due first: what most needs chasing leads."""
    n = models.ChangeNotification
    query = select(n).where(notifications_visible(principal))
    for column, value in (
        (n.approval_id, f.approval_id), (n.changed_approval_id, f.changed_approval_id),
        (n.holder_org_id, f.holder_org_id), (n.authority, f.authority), (n.change, f.change),
    ):  # fmt: skip
        if value is not None:
            query = query.where(column == value)
    if f.status is not None:
        query = query.where(col(n.impact).is_(None) if f.status == "outstanding" else col(n.impact).is_not(None))
    if f.overdue is not None:
        overdue = sa.and_(col(n.impact).is_(None), col(n.due_at) < sa.func.now())
        query = query.where(overdue if f.overdue else sa.not_(overdue))
    query = query.order_by(col(n.due_at), col(n.id)).offset(f.offset).limit(f.limit)
    return list(await session.exec(query))


async def change_notification(
    session: AsyncSession, principal: Principal, notification_id: UUID
) -> models.ChangeNotification:
    found = await session.scalar(
        select(models.ChangeNotification)
        .where(models.ChangeNotification.id == notification_id)
        .where(notifications_visible(principal))
    )
    if found is None:
        raise NotFound(f"No change notification {notification_id} that this token may see.")
    return found


async def outstanding_notifications(session: AsyncSession, approval_ids: list[UUID]) -> dict[UUID, int]:
    """How many change notifications each approval's holder has not answered (none: absent)."""
    n = models.ChangeNotification
    result = await session.execute(
        sa.select(n.approval_id, sa.func.count())
        .where(col(n.approval_id).in_(approval_ids), col(n.impact).is_(None))
        .group_by(n.approval_id)
    )
    return {approval_id: count for approval_id, count in result.tuples()}


# --- subscriptions ---------------------------------------------------------------------------


async def subscriptions(session: AsyncSession, principal: Principal) -> list[models.Subscription]:
    """The subscriptions of the caller's authority (all of them for the hub operator), oldest first."""
    query = select(models.Subscription).order_by(col(models.Subscription.created_at))
    if not principal.is_admin:
        query = query.where(models.Subscription.authority == principal.authority)
    return list(await session.exec(query))


# --- the event stream ------------------------------------------------------------------------


async def letters_held(session: AsyncSession, org_id: str | None) -> set[str]:
    """The approvals (ids as text, like event keys) an organisation holds a live letter of access to."""
    result = await session.scalars(
        sa.select(models.LetterOfAccess.approval_id).where(
            models.LetterOfAccess.grantee_org_id == org_id, col(models.LetterOfAccess.revoked_at).is_(None)
        )
    )
    return {str(approval_id) for approval_id in result}

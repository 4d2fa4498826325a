"""Reads: who sees which approvals, search, the tree around one approval, what a child inherits."""

from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import select

from services.approvals import domain, models
from services.approvals.handlers import get_row, to_domain
from shared.auth import Principal, Role
from shared.database import UnitOfWork
from shared.errors import Forbidden, NotFound


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


async def visible_row(uow: UnitOfWork, principal: Principal, approval_id: UUID) -> models.Approval:
    """The approval, or 404 alike for one that does not exist and one the caller may not see."""
    found = await uow.session.scalar(
        sa.select(sa.func.count()).where(models.Approval.id == approval_id).where(visible(principal))
    )
    if not found:
        raise NotFound(f"No approval {approval_id} that this token may see.")
    return await get_row(uow, approval_id)


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


async def search(uow: UnitOfWork, principal: Principal, f: SearchFilter) -> list[models.Approval]:
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
    return list(await uow.session.exec(query))


async def tree_around(
    uow: UnitOfWork, principal: Principal, row: models.Approval
) -> tuple[list[models.Approval], list[tuple[models.Approval, int]]]:
    """Its ancestors (root first; always shown, a child stands on them) and the descendants the
    caller may see, each with its depth below this approval."""
    rows = {
        r.id: r for r in await uow.session.exec(select(models.Approval).where(models.Approval.root_id == row.root_id))
    }
    seen = set(
        await uow.session.exec(
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


async def parent_of(uow: UnitOfWork, row: models.Approval) -> models.Approval | None:
    return await uow.session.get(models.Approval, row.parent_id) if row.parent_id else None


async def decisions(uow: UnitOfWork, approval_id: UUID) -> list[models.Decision]:
    result = await uow.session.exec(
        select(models.Decision).where(models.Decision.approval_id == approval_id).order_by(models.Decision.signed_at)  # type: ignore[arg-type]
    )
    return list(result)


async def letters(uow: UnitOfWork, approval_id: UUID) -> list[models.LetterOfAccess]:
    result = await uow.session.exec(
        select(models.LetterOfAccess)
        .where(models.LetterOfAccess.approval_id == approval_id)
        .order_by(models.LetterOfAccess.granted_at)  # type: ignore[arg-type]
    )
    return list(result)

"""Approval use cases: lock the tree, apply the domain's rules, save every changed approval and
emit one event for each, all in the caller's transaction (the caller commits).

Every change to an approval locks its whole tree (`SELECT ... FOR UPDATE` on the rows sharing
its root, in id order), so cascades are serialised per tree and a crash halfway leaves nothing:
the transaction that changed a subtree commits all of it or none of it.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from services.approvals import domain, events, models
from services.approvals.domain import Change, Level
from services.approvals.repository import ApprovalsUnitOfWork, to_domain
from shared.auth import Principal, Role
from shared.problems import Conflict, Forbidden, NotFound
from shared.signatures import state_sha256


@dataclass(frozen=True)
class DraftRequest:
    level: Level
    covers: domain.Covers
    title: str
    authority: str
    facility_ids: list[UUID]
    parent_id: UUID | None = None
    relied_on_parts: tuple[str, ...] = ()
    change_notification_id: UUID | None = None  # a variation drafted in answer to this notification


@dataclass(frozen=True)
class SignatureRequest:
    meaning: str
    reason: str


# --- mapping between the domain, rows and the published state ---------------------------------


def state_of(a: domain.Approval | models.Approval) -> events.ApprovalState:
    return events.ApprovalState(
        approval_id=a.id, version=a.version, parent_id=a.parent_id, root_id=a.root_id, level=str(a.level),
        covers=str(a.covers), title=a.title, holder_org_id=a.holder_org_id, authority=a.authority,
        facility_ids=list(a.facility_ids), status=str(a.status), needs_reconfirmation=a.needs_reconfirmation,
        suspended_by=a.suspended_by, relied_on_parts=list(a.relied_on_parts), valid_until=a.valid_until,
    )  # fmt: skip


def _copy_to_row(a: domain.Approval, row: models.Approval, actor: str | None, reason: str | None) -> None:
    row.status = a.status.value
    row.version = a.version
    row.needs_reconfirmation = a.needs_reconfirmation
    row.suspended_by = a.suspended_by
    row.assessment = dict(a.assessment)
    row.valid_until = a.valid_until
    row.status_reason = reason
    row.updated_at = datetime.now(UTC)
    row.updated_by = actor or "system"


# --- loading under lock ----------------------------------------------------------------------


@dataclass
class LockedTree:
    rows: dict[UUID, models.Approval]
    tree: domain.Tree


async def lock_tree_of(uow: ApprovalsUnitOfWork, approval_id: UUID) -> tuple[LockedTree, domain.Approval]:
    root_id = await uow.approvals.root_of(approval_id)
    if root_id is None:
        raise NotFound(f"No approval {approval_id}.")
    # The root never changes, so reading it unlocked above is safe.
    rows = {row.id: row for row in await uow.approvals.lock_tree(root_id)}
    locked = LockedTree(rows, domain.Tree([to_domain(row) for row in rows.values()]))
    return locked, locked.tree[approval_id]


async def letters_for(uow: ApprovalsUnitOfWork, approval_ids: list[UUID]) -> list[domain.LetterOfAccess]:
    """Live letters only: a revoked one grants nothing."""
    return [domain.LetterOfAccess(r.approval_id, r.grantee_org_id) for r in await uow.letters.live_on(approval_ids)]


def _line(tree: domain.Tree, parent: domain.Approval) -> list[UUID]:
    """The parent and its ancestors: where a letter that lets someone build on it may sit."""
    return [parent.id, *(a.id for a in tree.ancestors(parent))]


# --- saving: rows, signatures, events --------------------------------------------------------

_EVENTS: dict[Change, type[events._ApprovalEvent]] = {
    Change.SUBMITTED: events.ApprovalSubmitted,
    Change.REVIEW_STARTED: events.ApprovalReviewStarted,
    Change.APPROVED: events.ApprovalApproved,
    Change.REJECTED: events.ApprovalRejected,
    Change.SUSPENDED: events.ApprovalSuspended,
    Change.REINSTATED: events.ApprovalReinstated,
    Change.WITHDRAWN: events.ApprovalWithdrawn,
    Change.EXPIRED: events.ApprovalExpired,
    Change.RECONFIRMATION_REQUIRED: events.ApprovalReconfirmationRequired,
    Change.RECONFIRMED: events.ApprovalReconfirmed,
}


def _cascade_reason(target: domain.Approval, change: Change, reason: str | None) -> str:
    why = f": {reason}" if reason else ""
    if change is Change.RECONFIRMATION_REQUIRED:
        return f"{target.covers.value} {target.id} ({target.title}) changed: {target.status.value}{why}"
    what = "reinstated" if change is Change.REINSTATED else target.status.value
    return f"ancestor {target.id} ({target.title}) {what}{why}"


# What `GMPHUB_CHANGE_ACK_DAYS` defaults to; the routes and the expiry job pass the setting.
ACK_WINDOW = timedelta(days=30)


def save(
    uow: ApprovalsUnitOfWork,
    locked: LockedTree,
    target: domain.Approval,
    changes: domain.Changes,
    *,
    reason: str | None = None,
    signature: events.Signature | None = None,
    ack_window: timedelta = ACK_WINDOW,
) -> None:
    """Write the changed approvals back and emit one event per change, in order. The target's
    events carry the caller's reason and signature; the cascade's name their cause. Then tell the
    holder of every other approval the change reached (due within `ack_window`)."""
    last_change = {a.id: change for a, change in changes}
    for approval_id, change in last_change.items():
        why = reason if approval_id == target.id else _cascade_reason(target, change, reason)
        _copy_to_row(locked.tree[approval_id], locked.rows[approval_id], uow.actor, why)
    for snapshot, change in changes:
        own = snapshot.id == target.id and change is not Change.RECONFIRMATION_REQUIRED
        fields: dict = {"approval_id": snapshot.id, "approval": state_of(snapshot)}
        cls = _EVENTS[change]
        if "reason" in cls.model_fields:
            fields["reason"] = (reason or change.value) if own else _cascade_reason(target, change, reason)
        if "signature" in cls.model_fields and own:
            fields["signature"] = signature
        uow.emit(cls(**fields))
    notify_holders(uow, domain.change_notices(locked.tree, target, changes), reason, ack_window)


def notification_state(row: models.ChangeNotification) -> events.ChangeNotificationState:
    return events.ChangeNotificationState(
        notification_id=row.id, status="outstanding" if row.impact is None else "acknowledged",
        **row.model_dump(include=set(events.ChangeNotificationState.model_fields) - {"notification_id", "status"}),
    )  # fmt: skip


def _summary(notice: domain.ChangeNotice, reason: str | None) -> str:
    changed = f"{notice.changed.covers.value} {notice.changed.id} ({notice.changed.title})"
    if notice.kind is domain.ChangeKind.VARIATION_APPROVED:
        what = f"{changed}: variation {notice.cause.id} ({notice.cause.title}) approved"
    else:
        what = f"{changed} {notice.kind.value}"
    parts = ", ".join(notice.affected_parts) or "none of the changed parts"
    return f"{what}{f': {reason}' if reason else ''}. {notice.approval.title} relies on: {parts}."


def notify_holders(
    uow: ApprovalsUnitOfWork, notices: list[domain.ChangeNotice], reason: str | None, ack_window: timedelta
) -> None:
    """One outstanding change notification per notice, to the notified approval's holder."""
    sent_at = datetime.now(UTC)
    for notice in notices:
        row = models.ChangeNotification(
            approval_id=notice.approval.id, holder_org_id=notice.approval.holder_org_id,
            authority=notice.approval.authority, changed_approval_id=notice.changed.id,
            cause_approval_id=notice.cause.id, change=notice.kind.value, changed_parts=notice.changed_parts,
            affected_parts=notice.affected_parts, summary=_summary(notice, reason), sent_at=sent_at,
            due_at=sent_at + ack_window, sent_by=uow.actor or "system",
        )  # fmt: skip
        uow.notifications.add(row)
        uow.emit(
            events.ChangeNotificationSent(
                approval_id=row.approval_id,
                authority=row.authority,
                approval=state_of(notice.approval),
                notification=notification_state(row),
            )  # fmt: skip
        )


def sign(
    uow: ApprovalsUnitOfWork, principal: Principal, a: domain.Approval, action: str, req: SignatureRequest
) -> events.Signature:
    """Record the regulator's electronic signature on the approval as the decision left it
    (insert-only table, with the hash of that state) and return it for the event."""
    signature = events.Signature(
        signer=principal.actor, signer_name=principal.display_name, authority=principal.authority or a.authority,
        meaning=req.meaning, reason=req.reason, signed_at=datetime.now(UTC), state_sha256=state_sha256(state_of(a)),
    )  # fmt: skip
    uow.decisions.add(
        models.Decision(approval_id=a.id, approval_version=a.version, action=action, **signature.model_dump())
    )
    return signature


# --- who may act -----------------------------------------------------------------------------


def require_holder(principal: Principal, a: domain.Approval) -> None:
    """Only the holder's developers submit, withdraw and license an approval: the hub operator is
    no party to a regulatory act (it may revoke a letter, with a reason: require_holder_or_operator)."""
    if principal.is_admin:
        raise Forbidden("The hub operator is not a party to an approval: only its holder's developers may do this.")
    principal.require_role(Role.DEVELOPER)
    principal.require_org(a.holder_org_id)


def require_holder_or_operator(principal: Principal, a: domain.Approval) -> None:
    if not principal.is_admin:
        require_holder(principal, a)


def require_deciding_regulator(principal: Principal, a: domain.Approval) -> None:
    """Only a regulator of the authority the approval was filed with; the hub operator signs nothing."""
    if principal.role is not Role.REGULATOR or principal.authority != a.authority:
        raise Forbidden(f"Only a regulator of {a.authority}, the authority this approval was filed with, may do this.")


# --- developer use cases ---------------------------------------------------------------------


async def draft(uow: ApprovalsUnitOfWork, principal: Principal, req: DraftRequest) -> models.Approval:
    if principal.role is not Role.DEVELOPER or not principal.org_id:
        raise Forbidden("Only a developer (with an org_id) drafts approvals.")
    approval = domain.Approval(
        id=uuid.uuid4(), level=req.level, covers=req.covers, title=req.title,
        holder_org_id=principal.org_id, authority=domain.check_filed_with(req.authority), parent_id=req.parent_id,
        facility_ids=list(req.facility_ids), relied_on_parts=list(req.relied_on_parts),
    )  # fmt: skip
    if req.parent_id is not None:
        locked, parent = await lock_tree_of(uow, req.parent_id)
        letters = await letters_for(uow, _line(locked.tree, parent))
        if parent.holder_org_id != principal.org_id and not any(
            x.approval_id == parent.id and x.grantee_org_id == principal.org_id for x in letters
        ):
            raise NotFound(f"No approval {parent.id} that this token may see.")
        domain.attach_child(locked.tree, approval, parent, letters)
    row = models.Approval(
        **{k: v for k, v in state_of(approval).model_dump().items() if k in models.Approval.model_fields},
        id=approval.id, assessment={}, created_by=uow.actor, updated_by=uow.actor,
    )  # fmt: skip
    uow.approvals.add(row)
    uow.emit(
        events.ApprovalDrafted(
            approval_id=row.id, approval=state_of(approval), change_notification_id=req.change_notification_id
        )
    )
    return row


async def submit(uow: ApprovalsUnitOfWork, principal: Principal, approval_id: UUID) -> None:
    locked, a = await lock_tree_of(uow, approval_id)
    require_holder(principal, a)
    parent = locked.tree.parent(a)
    letters = await letters_for(uow, _line(locked.tree, parent)) if parent else []
    save(uow, locked, a, domain.submit(locked.tree, a, letters))


async def withdraw(
    uow: ApprovalsUnitOfWork,
    principal: Principal,
    approval_id: UUID,
    reason: str,
    *,
    ack_window: timedelta = ACK_WINDOW,
) -> None:
    locked, a = await lock_tree_of(uow, approval_id)
    require_holder(principal, a)
    save(uow, locked, a, domain.withdraw(locked.tree, a), reason=reason, ack_window=ack_window)


async def grant_letter_of_access(
    uow: ApprovalsUnitOfWork, principal: Principal, approval_id: UUID, grantee: str
) -> models.LetterOfAccess:
    locked, a = await lock_tree_of(uow, approval_id)
    require_holder(principal, a)
    domain.grant_letter_of_access(a, grantee)
    if any(letter.grantee_org_id == grantee for letter in await letters_for(uow, [a.id])):
        raise Conflict(f"{grantee} already holds a letter of access to {a.id}.")
    letter = models.LetterOfAccess(approval_id=a.id, grantee_org_id=grantee, granted_by=uow.actor or "")
    uow.letters.add(letter)
    uow.emit(
        events.LetterOfAccessGranted(
            approval_id=a.id, grantee_org_id=grantee, granted_by=letter.granted_by, authority=a.authority
        )
    )
    return letter


async def revoke_letter_of_access(
    uow: ApprovalsUnitOfWork, principal: Principal, approval_id: UUID, grantee: str, reason: str
) -> models.LetterOfAccess:
    """Under the tree's lock, so a draft or submission racing the revocation sees it or precedes it."""
    locked, a = await lock_tree_of(uow, approval_id)
    require_holder_or_operator(principal, a)
    rows = await uow.letters.lock(a.id, grantee)
    letters = [domain.LetterOfAccess(r.approval_id, r.grantee_org_id, revoked=r.revoked_at is not None) for r in rows]
    domain.revoke_letter_of_access(a, grantee, letters)
    row = next(r for r in rows if r.revoked_at is None)
    row.revoked_at, row.revoked_by, row.revocation_reason = datetime.now(UTC), uow.actor or "", reason
    uow.emit(
        events.LetterOfAccessRevoked(
            approval_id=a.id, grantee_org_id=grantee, revoked_by=row.revoked_by, reason=reason,
            granted_by=row.granted_by, granted_at=row.granted_at, authority=a.authority,
            grantee_approval_ids=[x.id for x in domain.built_through(locked.tree, a, grantee)],
        )
    )  # fmt: skip
    return row


# --- regulator use cases ---------------------------------------------------------------------


async def start_review(uow: ApprovalsUnitOfWork, principal: Principal, approval_id: UUID) -> None:
    locked, a = await lock_tree_of(uow, approval_id)
    require_deciding_regulator(principal, a)
    save(uow, locked, a, domain.start_review(a))


async def decide(
    uow: ApprovalsUnitOfWork, principal: Principal, approval_id: UUID, outcome: str, req: SignatureRequest,
    assessment: dict[str, str], valid_until: date | None, *, ack_window: timedelta = ACK_WINDOW,
) -> None:  # fmt: skip
    locked, a = await lock_tree_of(uow, approval_id)
    require_deciding_regulator(principal, a)
    if outcome == "approved":
        changes = domain.approve(locked.tree, a, assessment, valid_until, datetime.now(UTC).date())
    else:
        changes = domain.reject(a)
    signature = sign(uow, principal, a, outcome, req)
    save(uow, locked, a, changes, reason=req.reason, signature=signature, ack_window=ack_window)


async def suspend(
    uow: ApprovalsUnitOfWork, principal: Principal, approval_id: UUID, req: SignatureRequest,
    *, ack_window: timedelta = ACK_WINDOW,
) -> None:  # fmt: skip
    locked, a = await lock_tree_of(uow, approval_id)
    require_deciding_regulator(principal, a)
    changes = domain.suspend(locked.tree, a)
    signature = sign(uow, principal, a, "suspended", req)
    save(uow, locked, a, changes, reason=req.reason, signature=signature, ack_window=ack_window)


async def reinstate(uow: ApprovalsUnitOfWork, principal: Principal, approval_id: UUID, req: SignatureRequest) -> None:
    locked, a = await lock_tree_of(uow, approval_id)
    require_deciding_regulator(principal, a)
    changes = domain.reinstate(locked.tree, a)
    save(uow, locked, a, changes, reason=req.reason, signature=sign(uow, principal, a, "reinstated", req))


async def reconfirm(
    uow: ApprovalsUnitOfWork, principal: Principal, approval_id: UUID, req: SignatureRequest,
    *, requires_acknowledgement: bool = False,
) -> None:  # fmt: skip
    """`requires_acknowledgement` (GMPHUB_RECONFIRM_REQUIRES_ACKNOWLEDGEMENT): only once the holder
    answered every change notification about the approval."""
    locked, a = await lock_tree_of(uow, approval_id)
    require_deciding_regulator(principal, a)
    if requires_acknowledgement:
        domain.require_acknowledged(a, await uow.notifications.outstanding_for(a.id))
    changes = domain.reconfirm(a)
    save(uow, locked, a, changes, reason=req.reason, signature=sign(uow, principal, a, "reconfirmed", req))


# --- the expiry job --------------------------------------------------------------------------


async def due_for_expiry(uow: ApprovalsUnitOfWork, today: date, limit: int = 100) -> list[UUID]:
    """Standing approvals whose `valid_until` day is before `today`."""
    return await uow.approvals.due_for_expiry(today, limit)


async def expire(
    uow: ApprovalsUnitOfWork, approval_id: UUID, today: date, *, ack_window: timedelta = ACK_WINDOW
) -> int:
    """Expire one approval if still due (another replica may have done it); return events emitted."""
    locked, a = await lock_tree_of(uow, approval_id)
    changes = domain.expire(locked.tree, a, today)
    save(uow, locked, a, changes, reason=f"valid until {a.valid_until}", ack_window=ack_window)
    return len(changes)

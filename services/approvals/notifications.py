"""Change-notification use cases: the holder of an approval answers a notification that something
it builds on changed, with a signed impact assessment; answering `variation_needed` drafts the
approval's variation in the same transaction, linked to the notification. Sending is part of
every cascade (approvals.save)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from services.approvals import approvals, domain, events, models
from services.approvals.repository import ApprovalsUnitOfWork
from shared.auth import Principal, Role
from shared.problems import Forbidden, NotFound
from shared.signatures import state_sha256


@dataclass(frozen=True)
class Acknowledgement:
    impact: domain.Impact
    meaning: str
    reason: str
    variation_title: str | None = None  # variation_needed: the draft's title (a default otherwise)
    variation_relied_on_parts: tuple[str, ...] = ()


def _require_answering_holder(principal: Principal, row: models.ChangeNotification) -> None:
    """Only the notified holder answers. Another organisation does not see the notification
    (404, as if absent); a regulator or the hub operator sees it but answers for no holder (403)."""
    if principal.role is Role.DEVELOPER and principal.org_id == row.holder_org_id:
        return
    if principal.role is Role.DEVELOPER:
        raise NotFound(f"No change notification {row.id} that this token may see.")
    raise Forbidden(f"Only the notified holder answers change notification {row.id}.")


async def acknowledge(
    uow: ApprovalsUnitOfWork, principal: Principal, notification_id: UUID, ack: Acknowledgement
) -> models.ChangeNotification:
    """By the notified holder only, checked before any lock is taken; then under the notified
    approval's tree lock (a variation joins that tree), then the row's."""
    found = await uow.notifications.get(notification_id)
    if found is None:
        raise NotFound(f"No change notification {notification_id} that this token may see.")
    _require_answering_holder(principal, found)
    _, approval = await approvals.lock_tree_of(uow, found.approval_id)
    row = await uow.notifications.lock(notification_id) or found  # a trigger refuses to delete one
    impact = domain.Impact(row.impact) if row.impact else None
    domain.acknowledge(domain.ChangeNotification(row.id, row.approval_id, row.holder_org_id, impact), ack.impact)
    if ack.impact is domain.Impact.VARIATION_NEEDED:
        request = approvals.DraftRequest(
            level=domain.Level.CHILD, covers=domain.Covers.VARIATION, authority=approval.authority,
            title=ack.variation_title or f"Variation of {approval.title} after {row.change.replace('_', ' ')}",
            facility_ids=list(approval.facility_ids), parent_id=approval.id,
            relied_on_parts=ack.variation_relied_on_parts, change_notification_id=row.id,
        )  # fmt: skip
        row.variation_id = (await approvals.draft(uow, principal, request)).id
    signed_at = datetime.now(UTC)
    row.impact, row.meaning, row.reason, row.acknowledged_at = ack.impact.value, ack.meaning, ack.reason, signed_at
    row.signer, row.signer_name = principal.actor, principal.display_name
    state = approvals.notification_state(row)
    row.state_sha256 = state_sha256(state)
    signature = events.HolderSignature(
        signer=row.signer, signer_name=row.signer_name, org_id=row.holder_org_id, meaning=ack.meaning,
        reason=ack.reason, signed_at=signed_at, state_sha256=row.state_sha256,
    )  # fmt: skip
    uow.emit(
        events.ChangeNotificationAcknowledged(
            approval_id=row.approval_id,
            authority=row.authority,
            approval=approvals.state_of(approval),
            notification=state,
            signature=signature,
        )  # fmt: skip
    )
    return row


async def flag_overdue(uow: ApprovalsUnitOfWork, limit: int) -> list[UUID]:
    """Mark each notification unanswered past its due time overdue, once, with its event; the
    list's `overdue` flag says so from `due_at` on, this tells those following the events."""
    flagged = []
    for row, approval in await uow.notifications.newly_overdue(limit):
        row.overdue_at = datetime.now(UTC)
        uow.emit(
            events.ChangeNotificationOverdue(
                approval_id=row.approval_id, authority=row.authority, approval=approvals.state_of(approval),
                notification=approvals.notification_state(row), overdue_at=row.overdue_at,
            )
        )  # fmt: skip
        flagged.append(row.id)
    return flagged

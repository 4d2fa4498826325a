"""Change notifications under /v1: the holders' (and their regulators') list, one notification,
and the holder's signed answer (a signature: it needs a recent sign-in)."""

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from services.approvals import notifications, queries
from services.approvals.api_approvals import committing
from services.approvals.domain import ChangeKind
from services.approvals.schemas import AcknowledgementIn, ChangeNotificationOut
from shared.auth import CurrentPrincipal, SigningPrincipal
from shared.service import Context

router = APIRouter(prefix="/v1", tags=["change notifications"])


@router.get("/change-notifications", response_model=list[ChangeNotificationOut],
            summary="Change notifications the caller may see (holder: its own; regulator: its authority's), "
                    "oldest due first; overdue ones flagged")  # fmt: skip
async def list_change_notifications(
    principal: CurrentPrincipal,
    context: Context,
    status: Literal["outstanding", "acknowledged"] | None = None,
    overdue: Annotated[bool | None, Query(description="Outstanding past due (true), or not (false)")] = None,
    approval_id: Annotated[UUID | None, Query(description="The notified approval")] = None,
    changed_approval_id: Annotated[UUID | None, Query(description="The approval that changed")] = None,
    holder_org_id: str | None = None,
    authority: str | None = None,
    change: ChangeKind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ChangeNotificationOut]:
    f = queries.NotificationFilter(
        status, overdue, approval_id, changed_approval_id, holder_org_id, authority,
        change.value if change else None, limit, offset,
    )  # fmt: skip
    async with context.db.sessions() as session:
        found = await queries.change_notifications(session, principal, f)
    now = datetime.now(UTC)
    return [ChangeNotificationOut.of(row, now) for row in found]


@router.get("/change-notifications/{notification_id}", response_model=ChangeNotificationOut,
            summary="One change notification, with the holder's signed answer once given")  # fmt: skip
async def read_change_notification(
    notification_id: UUID, principal: CurrentPrincipal, context: Context
) -> ChangeNotificationOut:
    async with context.db.sessions() as session:
        row = await queries.change_notification(session, principal, notification_id)
    return ChangeNotificationOut.of(row, datetime.now(UTC))


@router.post("/change-notifications/{notification_id}/acknowledge", response_model=ChangeNotificationOut,
             summary="Answer with a signed impact assessment (the notified holder): not_affected, or "
                     "variation_needed, which drafts the approval's variation linked to it")  # fmt: skip
async def acknowledge_change_notification(
    notification_id: UUID, body: AcknowledgementIn, principal: SigningPrincipal, context: Context
) -> ChangeNotificationOut:
    variation = body.variation
    ack = notifications.Acknowledgement(
        body.impact, body.meaning, body.reason, variation.title if variation else None,
        tuple(variation.relied_on_parts) if variation else (),
    )  # fmt: skip
    async with committing(context, principal) as uow:
        await notifications.acknowledge(uow, principal, notification_id, ack)
    async with context.db.sessions() as session:
        row = await queries.change_notification(session, principal, notification_id)
    return ChangeNotificationOut.of(row, datetime.now(UTC))

"""Events the approvals service publishes on `gmphub.approvals.v1`, keyed by approval id. Every
event carries the approval's full current state (with a growing `version`)."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from shared.events import Event


class Signature(BaseModel):
    """An electronic signature record (EU GMP Annex 11): who, when, what it means, why."""

    signer: str
    authority: str
    meaning: str
    reason: str
    signed_at: datetime


class ApprovalState(BaseModel):
    approval_id: UUID
    version: int
    parent_id: UUID | None = None
    root_id: UUID
    level: str  # parent | child
    covers: str  # platform | product | site | indication | variation
    title: str
    holder_org_id: str
    authority: str
    facility_ids: list[UUID]
    status: str  # draft | submitted | under_review | approved | rejected | suspended | suspended_by_parent | withdrawn | expired
    needs_reconfirmation: bool = False


class _ApprovalEvent(Event):
    aggregate_field = "approval_id"
    approval_id: UUID
    approval: ApprovalState


class ApprovalDrafted(_ApprovalEvent):
    type = "gmphub.approvals.approval.drafted.v1"


class ApprovalSubmitted(_ApprovalEvent):
    type = "gmphub.approvals.approval.submitted.v1"


class ApprovalReviewStarted(_ApprovalEvent):
    type = "gmphub.approvals.approval.review_started.v1"


class ApprovalApproved(_ApprovalEvent):
    type = "gmphub.approvals.approval.approved.v1"
    signature: Signature


class ApprovalRejected(_ApprovalEvent):
    type = "gmphub.approvals.approval.rejected.v1"
    signature: Signature


class ApprovalSuspended(_ApprovalEvent):
    """Suspended on its own, or (status `suspended_by_parent`) by the suspension of an ancestor."""

    type = "gmphub.approvals.approval.suspended.v1"
    reason: str


class ApprovalReinstated(_ApprovalEvent):
    type = "gmphub.approvals.approval.reinstated.v1"
    reason: str


class ApprovalWithdrawn(_ApprovalEvent):
    type = "gmphub.approvals.approval.withdrawn.v1"
    reason: str


class ApprovalExpired(_ApprovalEvent):
    type = "gmphub.approvals.approval.expired.v1"


class ApprovalReconfirmationRequired(_ApprovalEvent):
    """The parent changed (variation, withdrawal, expiry): this approved child must be re-confirmed."""

    type = "gmphub.approvals.approval.reconfirmation_required.v1"
    reason: str


class LetterOfAccessGranted(Event):
    """A parent's holder let another organisation build child approvals on it."""

    type = "gmphub.approvals.letter_of_access.granted.v1"
    aggregate_field = "approval_id"
    approval_id: UUID
    grantee_org_id: str
    granted_by: str

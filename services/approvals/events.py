"""Events the approvals service publishes on `gmphub.approvals.v1`, keyed by the aggregate's id.
Every approval event carries the approval's full current state (with a growing `version`); the
subscription events record who subscribed, rotated and ended webhook subscriptions."""

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, Field

from shared.events import ChainAnchored, Event
from shared.subscriptions import subscription_events


class Signature(BaseModel):
    """An electronic signature record (EU GMP Annex 11): who, when, what it means, why, and the
    SHA-256 of the canonical JSON of the approval state it signed (the state this event carries)."""

    signer: str
    authority: str
    meaning: str
    reason: str
    signed_at: datetime
    signer_name: str | None = Field(default=None, description="The signer's name (the token's `name`, else subject).")
    state_sha256: str | None = Field(
        default=None, description="SHA-256 (hex) of the signed `approval` state as canonical JSON (sorted keys)."
    )


class ApprovalState(BaseModel):
    """An approval as it stands after the event: consumers keep the highest `version` they saw."""

    approval_id: UUID
    version: int = Field(description="Grows by one with every change; ignore a state older than the one you hold.")
    parent_id: UUID | None = Field(default=None, description="The approval this child builds on; none for a parent.")
    root_id: UUID = Field(description="The top parent of its tree.")
    level: str = Field(description="parent | child")
    covers: str = Field(description="platform | product | site | indication | variation")
    title: str
    holder_org_id: str = Field(description="The developer organisation holding it.")
    authority: str = Field(
        description="The competent authority it is filed with, which alone decides it (e.g. DE-PEI)."
    )
    facility_ids: list[UUID] = Field(description="Manufacturing facilities it covers (registry facility ids).")
    status: str = Field(
        description="draft | submitted | under_review | approved | rejected | suspended | suspended_by_parent "
        "| withdrawn | expired; only `approved` authorises manufacture under it."
    )
    needs_reconfirmation: bool = Field(
        default=False, description="Its parent changed (variation, withdrawal, expiry); a regulator must re-confirm it."
    )
    suspended_by: UUID | None = None  # for `suspended_by_parent`: the ancestor whose suspension it follows
    relied_on_parts: list[str] = []  # a child: the parts of its parent's assessment it relies on
    valid_until: date | None = None  # an approved approval expires after this day


class _ApprovalEvent(Event):
    aggregate_field = "approval_id"
    approval_id: UUID
    approval: ApprovalState


class ApprovalDrafted(_ApprovalEvent):
    """A developer drafted an approval (not yet filed with the authority)."""

    type = "gmphub.approvals.approval.drafted.v1"
    change_notification_id: UUID | None = Field(
        default=None, description="A variation drafted in answer to this change notification."
    )


class ApprovalSubmitted(_ApprovalEvent):
    """The holder filed the approval with its authority; a child under a parent still under review waits on it."""

    type = "gmphub.approvals.approval.submitted.v1"


class ApprovalReviewStarted(_ApprovalEvent):
    """A regulator of the approval's authority took it under review."""

    type = "gmphub.approvals.approval.review_started.v1"


class ApprovalApproved(_ApprovalEvent):
    """The authority approved it, with an electronic signature (who, when, meaning, reason)."""

    type = "gmphub.approvals.approval.approved.v1"
    signature: Signature


class ApprovalRejected(_ApprovalEvent):
    """The authority rejected it, with an electronic signature; final."""

    type = "gmphub.approvals.approval.rejected.v1"
    signature: Signature


class ApprovalSuspended(_ApprovalEvent):
    """Suspended on its own, or (status `suspended_by_parent`) by the suspension of an ancestor."""

    type = "gmphub.approvals.approval.suspended.v1"
    reason: str
    signature: Signature | None = None  # the regulator's signature on an own suspension; none on a cascade


class ApprovalReinstated(_ApprovalEvent):
    """A suspension was lifted; an ancestor's reinstatement restores exactly the descendants it suspended."""

    type = "gmphub.approvals.approval.reinstated.v1"
    reason: str
    signature: Signature | None = None  # the regulator's signature on the reinstated approval; none on a cascade


class ApprovalWithdrawn(_ApprovalEvent):
    """The holder withdrew it; final. Its standing children must be re-confirmed."""

    type = "gmphub.approvals.approval.withdrawn.v1"
    reason: str


class ApprovalExpired(_ApprovalEvent):
    """It passed its `valid_until` date; final. Its standing children must be re-confirmed."""

    type = "gmphub.approvals.approval.expired.v1"


class ApprovalReconfirmationRequired(_ApprovalEvent):
    """The parent changed (variation, withdrawal, expiry): this approved child must be re-confirmed."""

    type = "gmphub.approvals.approval.reconfirmation_required.v1"
    reason: str


class ApprovalReconfirmed(_ApprovalEvent):
    """A regulator re-confirmed an approved child after its parent changed, with an electronic signature."""

    type = "gmphub.approvals.approval.reconfirmed.v1"
    signature: Signature


class LetterOfAccessGranted(Event):
    """A parent's holder let another organisation build child approvals on it."""

    type = "gmphub.approvals.letter_of_access.granted.v1"
    aggregate_field = "approval_id"
    approval_id: UUID
    grantee_org_id: str
    granted_by: str
    authority: str | None = None  # the authority the approval was filed with (for subscribers' filters)


class LetterOfAccessRevoked(Event):
    """The holder (or the hub operator) revoked a letter of access: the grantee may no longer draft
    or submit children on the approval, nor see it through the letter. The approvals it already
    built through the letter keep their status; the authority decides what becomes of them."""

    type = "gmphub.approvals.letter_of_access.revoked.v1"
    aggregate_field = "approval_id"
    approval_id: UUID
    grantee_org_id: str
    revoked_by: str
    reason: str
    granted_by: str
    granted_at: datetime
    authority: str | None = None  # the authority the approval was filed with (for subscribers' filters)
    grantee_approval_ids: list[UUID] = Field(
        default=[], description="The grantee's approvals below this one, which keep their status for the authority."
    )


class ChangeNotificationState(BaseModel):
    """A change of an approval as told to the holder of one approval building on it, and its answer."""

    notification_id: UUID
    approval_id: UUID = Field(description="The approval whose holder is told (it builds on the changed one).")
    holder_org_id: str = Field(description="Who must answer: that approval's holder.")
    authority: str = Field(description="That approval's authority, whose regulators follow the answer.")
    changed_approval_id: UUID = Field(description="The approval that changed (a parent or further ancestor).")
    cause_approval_id: UUID = Field(description="The approved variation, or the changed approval itself.")
    change: str = Field(description="variation_approved | suspended | withdrawn | expired")
    changed_parts: list[str] = Field(description="The parts of the changed approval's assessment the change touches.")
    affected_parts: list[str] = Field(description="Of those, the parts this approval relies on.")
    summary: str
    sent_at: datetime
    due_at: datetime = Field(description="Answer by then (`GMPHUB_CHANGE_ACK_DAYS` after sending); later is overdue.")
    status: str = Field(description="outstanding | acknowledged")
    impact: str | None = Field(default=None, description="not_affected | variation_needed, once acknowledged.")
    variation_id: UUID | None = Field(default=None, description="The variation the holder drafted in answer.")


class HolderSignature(BaseModel):
    """The holder's electronic signature on its impact assessment: who, when, what it means, why,
    and the SHA-256 of the canonical JSON of the notification state it signed (the one this event carries)."""

    signer: str
    signer_name: str | None = None
    org_id: str
    meaning: str
    reason: str
    signed_at: datetime
    state_sha256: str


class _ChangeNotificationEvent(Event):
    """Keyed by the notified approval: its history and its order hold the notifications about it."""

    aggregate_field = "approval_id"
    approval_id: UUID
    authority: str = Field(description="The notified approval's authority (for subscribers' filters).")
    approval: ApprovalState = Field(description="The notified approval as it stands; a notification adds no version.")
    notification: ChangeNotificationState


class ChangeNotificationSent(_ChangeNotificationEvent):
    """An approval this one builds on changed (approved variation, suspension, withdrawal, expiry):
    its holder must answer with an impact assessment."""

    type = "gmphub.approvals.change_notification.sent.v1"


class ChangeNotificationOverdue(_ChangeNotificationEvent):
    """Still unanswered past its `due_at` (`GMPHUB_CHANGE_ACK_DAYS` after sending); emitted once,
    by the overdue job, for the regulators of the notified approval's authority to chase."""

    type = "gmphub.approvals.change_notification.overdue.v1"
    overdue_at: datetime


class ChangeNotificationAcknowledged(_ChangeNotificationEvent):
    """The holder answered, signed: `not_affected` (with its reason) or `variation_needed` (with the
    variation it drafted, `notification.variation_id`)."""

    type = "gmphub.approvals.change_notification.acknowledged.v1"
    signature: HolderSignature


class SubscriptionState(BaseModel):
    subscription_id: UUID
    url: str
    # Not `authority`: subscription events are the audit trail of the subscriptions themselves and
    # are never fanned out to webhooks or the stream (which route on `authority`).
    subscriber_authority: str
    event_types: list[str]
    active: bool
    previous_secret_expires_at: datetime | None = None


SubscriptionEvent, SubscriptionCreated, SubscriptionSecretRotated, SubscriptionEnded = subscription_events(
    "approvals", SubscriptionState
)


class AuditAnchored(ChainAnchored):
    """The head of the approvals service's event-history hash chain, hourly and on demand (`gmp-hub audit anchor`)."""

    type = "gmphub.approvals.audit.anchored.v1"

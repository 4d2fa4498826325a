"""Request and response bodies of the approvals API."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, Field, StringConstraints, model_validator

from services.approvals import domain, models
from services.approvals.approvals import notification_state, state_of
from services.approvals.events import ApprovalState, ChangeNotificationState
from services.approvals.repository import to_domain
from shared import webhook_api
from shared.fields import IsoDate

Part = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,79}$")]
Authority = Annotated[str, StringConstraints(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")]


class DraftIn(BaseModel):
    level: domain.Level
    covers: domain.Covers
    title: str = Field(min_length=3, max_length=300, examples=["AAV9 capsid manufacturing platform"])
    authority: Authority = Field(examples=["DE-PEI"])
    facility_ids: list[UUID] = Field(default=[], max_length=50)
    parent_id: UUID | None = Field(default=None, description="For a child: the approval it builds on.")
    relied_on_parts: list[Part] = Field(
        default=[], max_length=50, description="For a child: parts of the parent's assessment it relies on.",
        examples=[["quality.drug_substance", "viral_safety"]],
    )  # fmt: skip


class ReasonIn(BaseModel):
    reason: str = Field(min_length=3, max_length=2000)


class SignatureIn(BaseModel):
    """An electronic signature: the signer and time come from the token and the clock."""

    meaning: str = Field(min_length=3, max_length=200, examples=["Approved by the competent authority"])
    reason: str = Field(min_length=3, max_length=2000, examples=["Quality and viral safety data are acceptable."])


class DecisionIn(SignatureIn):
    outcome: Literal["approved", "rejected"]
    assessment: dict[Part, Annotated[str, StringConstraints(min_length=1, max_length=2000)]] = Field(
        default={}, max_length=100,
        description="Approved: the assessment's parts and conclusions, which children may rely on.",
        examples=[{"quality.drug_substance": "acceptable", "viral_safety": "acceptable"}],
    )  # fmt: skip
    valid_until: IsoDate | None = Field(default=None, description="Approved: it expires after this day.")


class LetterIn(BaseModel):
    grantee_org_id: str = Field(min_length=1, max_length=100, examples=["ORG-2"])


class Inheritance(BaseModel):
    parent_id: UUID
    parent_status: str
    waiting_on_parent: bool = Field(description="Filed while the parent is still under review: it waits on it.")
    inherited: dict[str, str] = Field(description="Relied-on parts the approved parent's assessment settled.")
    to_assess: list[str] = Field(description="Relied-on parts the parent's assessment does not (yet) settle.")


class ApprovalOut(ApprovalState):
    assessment: dict[str, str]
    status_reason: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    inheritance: Inheritance | None = None

    @classmethod
    def of(cls, row: models.Approval, parent: models.Approval | None = None) -> "ApprovalOut":
        inheritance = None
        if parent is not None:
            child, up = to_domain(row), to_domain(parent)
            inherited = domain.inherited_assessment(child, up)
            inheritance = Inheritance(
                parent_id=parent.id, parent_status=parent.status, waiting_on_parent=domain.waiting_on_parent(child, up),
                inherited=inherited, to_assess=[p for p in row.relied_on_parts if p not in inherited],
            )  # fmt: skip
        return cls(
            **state_of(row).model_dump(), assessment=row.assessment, status_reason=row.status_reason,
            created_at=row.created_at, created_by=row.created_by, updated_at=row.updated_at,
            updated_by=row.updated_by, inheritance=inheritance,
        )  # fmt: skip


class TreeNode(BaseModel):
    approval_id: UUID
    parent_id: UUID | None
    depth: int = Field(description="Below the approval asked about (ancestors negative).")
    level: str
    covers: str
    title: str
    holder_org_id: str
    authority: str
    status: str
    needs_reconfirmation: bool
    outstanding_change_notifications: int = Field(
        default=0, description="Change notifications its holder has not yet answered."
    )

    @classmethod
    def of(cls, row: models.Approval, depth: int, outstanding: dict[UUID, int] | None = None) -> "TreeNode":
        return cls(
            approval_id=row.id, parent_id=row.parent_id, depth=depth, level=row.level, covers=row.covers,
            title=row.title, holder_org_id=row.holder_org_id, authority=row.authority, status=row.status,
            needs_reconfirmation=row.needs_reconfirmation,
            outstanding_change_notifications=(outstanding or {}).get(row.id, 0),
        )  # fmt: skip


class TreeOut(BaseModel):
    approval: TreeNode
    ancestors: list[TreeNode] = Field(description="Root first.")
    descendants: list[TreeNode] = Field(description="Those the caller may see, nearest first.")


class DecisionOut(BaseModel):
    decision_id: UUID
    approval_id: UUID
    approval_version: int
    action: str
    signer: str
    signer_name: str | None = None
    authority: str
    meaning: str
    reason: str
    signed_at: datetime
    state_sha256: str | None = Field(
        default=None, description="SHA-256 of the approval state it signed (canonical JSON, sorted keys)."
    )

    @classmethod
    def of(cls, d: models.Decision) -> "DecisionOut":
        return cls(decision_id=d.id, **d.model_dump(exclude={"id"}))


class LetterOut(BaseModel):
    approval_id: UUID
    grantee_org_id: str
    granted_by: str
    granted_at: datetime
    revoked_by: str | None = None
    revoked_at: datetime | None = Field(default=None, description="Set once revoked; a revoked letter grants nothing.")
    revocation_reason: str | None = None


class SubscriptionIn(webhook_api.SubscriptionInFields):
    url: AnyHttpUrl = Field(examples=["https://pei.example.eu/hooks/gmphub"])
    authority: Authority | None = Field(default=None, description="Defaults to the regulator's own authority.")
    event_types: list[str] = Field(
        default=[], max_length=20, description="Approval event types to receive; empty means all.",
        examples=[["gmphub.approvals.approval.approved.v1", "gmphub.approvals.approval.suspended.v1"]],
    )  # fmt: skip


class SubscriptionOut(webhook_api.SubscriptionOutFields):
    authority: str


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description=webhook_api.SECRET_DESCRIPTION)


class VariationIn(BaseModel):
    title: str | None = Field(default=None, min_length=3, max_length=300, examples=["Variation: new capsid supplier"])
    relied_on_parts: list[Part] = Field(default=[], max_length=50)


class AcknowledgementIn(SignatureIn):
    """The holder's signed impact assessment of a change notification."""

    impact: domain.Impact
    variation: VariationIn | None = Field(
        default=None, description="variation_needed: the variation to draft (a default title otherwise)."
    )

    @model_validator(mode="after")
    def _variation_only_when_needed(self) -> "AcknowledgementIn":
        if self.variation is not None and self.impact is not domain.Impact.VARIATION_NEEDED:
            raise ValueError("A variation is drafted only with impact variation_needed.")
        return self


class ChangeNotificationOut(ChangeNotificationState):
    overdue: bool = Field(description="Outstanding past its `due_at`.")
    overdue_at: datetime | None = Field(
        default=None, description="When the overdue job flagged it (with change_notification.overdue.v1)."
    )
    sent_by: str
    meaning: str | None = None
    reason: str | None = None
    signer: str | None = None
    signer_name: str | None = None
    acknowledged_at: datetime | None = None
    state_sha256: str | None = Field(
        default=None, description="SHA-256 of the notification state the holder signed (canonical JSON, sorted keys)."
    )

    @classmethod
    def of(cls, row: models.ChangeNotification, now: datetime) -> "ChangeNotificationOut":
        return cls(
            **notification_state(row).model_dump(), overdue=row.impact is None and row.due_at < now,
            overdue_at=row.overdue_at, sent_by=row.sent_by, meaning=row.meaning, reason=row.reason, signer=row.signer,
            signer_name=row.signer_name, acknowledged_at=row.acknowledged_at, state_sha256=row.state_sha256,
        )  # fmt: skip

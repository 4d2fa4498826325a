"""Approvals tables: the approval tree, the insert-only decision (e-signature) records, letters of
access, and regulators' webhook subscriptions with their deliveries."""

import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared import webhook_store


class Table(SQLModel, registry=registry()):
    pass


metadata = Table.metadata


def now() -> datetime:
    return datetime.now(UTC)


def _tz(**kw) -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), **kw)


STATUSES = (
    "'draft','submitted','under_review','approved','rejected','suspended','suspended_by_parent','withdrawn','expired'"
)


class Approval(Table, table=True):
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_approval_status"),
        sa.CheckConstraint("(level = 'parent') = (parent_id IS NULL)", name="ck_approval_level_parent"),
        sa.Index("ix_approval_facility_ids", "facility_ids", postgresql_using="gin"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = 1
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="approval.id", index=True)
    root_id: uuid.UUID = Field(index=True)
    level: str
    covers: str
    title: str
    holder_org_id: str = Field(index=True)
    authority: str = Field(index=True)
    facility_ids: list[uuid.UUID] = Field(default_factory=list, sa_column=sa.Column(ARRAY(sa.Uuid), nullable=False))
    relied_on_parts: list[str] = Field(default_factory=list, sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    assessment: dict[str, str] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    status: str = Field(index=True)
    needs_reconfirmation: bool = False
    suspended_by: uuid.UUID | None = None
    status_reason: str | None = None
    valid_until: date | None = None
    created_at: datetime = Field(default_factory=now, sa_column=_tz(nullable=False))
    created_by: str
    updated_at: datetime = Field(default_factory=now, sa_column=_tz(nullable=False))
    updated_by: str


class Decision(Table, table=True):
    """An electronic signature on a regulatory decision (EU GMP Annex 11 §14). Insert-only: a
    trigger in the migration refuses UPDATE and DELETE."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    approval_id: uuid.UUID = Field(foreign_key="approval.id", index=True)
    approval_version: int  # the approval's version this decision produced
    action: str  # approved | rejected | suspended | reinstated | reconfirmed
    signer: str
    signer_name: str | None = None  # the token's `name` (else its subject); none on decisions recorded before
    authority: str
    meaning: str
    reason: str
    signed_at: datetime = Field(default_factory=now, sa_column=_tz(nullable=False))
    # SHA-256 of the canonical JSON of the approval state it signed; none on decisions recorded before
    state_sha256: str | None = Field(default=None, max_length=64)


class LetterOfAccess(Table, table=True):
    """A holder's letter letting another organisation build on one approval. Revoking keeps the
    row (who, when, why), so one organisation may hold one live letter per approval and any
    number of revoked ones."""

    __tablename__ = "letter_of_access"
    __table_args__ = (
        sa.Index(
            "uq_letter_of_access", "approval_id", "grantee_org_id", unique=True,
            postgresql_where=sa.text("revoked_at IS NULL"),
        ),
    )  # fmt: skip

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    approval_id: uuid.UUID = Field(foreign_key="approval.id")
    grantee_org_id: str = Field(index=True)
    granted_by: str
    granted_at: datetime = Field(default_factory=now, sa_column=_tz(nullable=False))
    revoked_by: str | None = None
    revoked_at: datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    revocation_reason: str | None = None


class Subscription(webhook_store.SubscriptionFields, Table, table=True):
    """A regulator's webhook: where to send which approval events of its authority."""

    authority: str = Field(index=True)


WEBHOOK_TABLES = webhook_store.webhook_tables(Table, Subscription)  # delivery, delivery_attempt, webhook_cursor


class ChangeNotification(Table, table=True):
    """A change of an approval told to the holder of one approval building on it, and the
    holder's signed answer (impact, meaning, reason, signer, time, hash of the answered state),
    written once: the row is created outstanding and acknowledged at most once."""

    __tablename__ = "change_notification"
    __table_args__ = (
        sa.CheckConstraint(
            "change IN ('variation_approved','suspended','withdrawn','expired')", name="ck_change_notification_change"
        ),
        sa.CheckConstraint(
            "impact IS NULL OR impact IN ('not_affected','variation_needed')", name="ck_change_notification_impact"
        ),
        sa.CheckConstraint(
            "(impact IS NULL) = (acknowledged_at IS NULL)", name="ck_change_notification_acknowledged"
        ),
        sa.Index("ix_change_notification_authority_outstanding", "authority", "due_at",
                 postgresql_where=sa.text("impact IS NULL")),
    )  # fmt: skip

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    approval_id: uuid.UUID = Field(foreign_key="approval.id", index=True)  # the approval whose holder is told
    holder_org_id: str = Field(index=True)
    authority: str  # the notified approval's: its regulators follow the answer
    changed_approval_id: uuid.UUID = Field(foreign_key="approval.id", index=True)
    cause_approval_id: uuid.UUID = Field(foreign_key="approval.id")  # the variation, or the changed approval
    change: str
    changed_parts: list[str] = Field(default_factory=list, sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    affected_parts: list[str] = Field(default_factory=list, sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    summary: str
    sent_at: datetime = Field(default_factory=now, sa_column=_tz(nullable=False))
    due_at: datetime = Field(sa_column=_tz(nullable=False))
    sent_by: str
    # when the overdue job found it unanswered past due_at (and emitted change_notification.overdue)
    overdue_at: datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    impact: str | None = None
    meaning: str | None = None
    reason: str | None = None
    signer: str | None = None
    signer_name: str | None = None
    state_sha256: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    variation_id: uuid.UUID | None = Field(default=None, foreign_key="approval.id")

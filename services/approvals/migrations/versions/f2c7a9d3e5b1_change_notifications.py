"""change notifications: a parent's change told to every holder below it, and their signed answers

Revision ID: f2c7a9d3e5b1
Revises: a7c3e9f1b204
Create Date: 2026-11-29 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "f2c7a9d3e5b1"
down_revision: str | None = "a7c3e9f1b204"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString()
    op.create_table(
        "change_notification",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("approval_id", sa.Uuid(), nullable=False),
        sa.Column("holder_org_id", text, nullable=False),
        sa.Column("authority", text, nullable=False),
        sa.Column("changed_approval_id", sa.Uuid(), nullable=False),
        sa.Column("cause_approval_id", sa.Uuid(), nullable=False),
        sa.Column("change", text, nullable=False),
        sa.Column("changed_parts", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("affected_parts", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("summary", text, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_by", text, nullable=False),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("impact", text, nullable=True),
        sa.Column("meaning", text, nullable=True),
        sa.Column("reason", text, nullable=True),
        sa.Column("signer", text, nullable=True),
        sa.Column("signer_name", text, nullable=True),
        sa.Column("state_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("variation_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "change IN ('variation_approved','suspended','withdrawn','expired')", name="ck_change_notification_change"
        ),
        sa.CheckConstraint(
            "impact IS NULL OR impact IN ('not_affected','variation_needed')", name="ck_change_notification_impact"
        ),
        sa.CheckConstraint("(impact IS NULL) = (acknowledged_at IS NULL)", name="ck_change_notification_acknowledged"),
        sa.ForeignKeyConstraint(["approval_id"], ["approval.id"]),
        sa.ForeignKeyConstraint(["changed_approval_id"], ["approval.id"]),
        sa.ForeignKeyConstraint(["cause_approval_id"], ["approval.id"]),
        sa.ForeignKeyConstraint(["variation_id"], ["approval.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_change_notification_approval_id", "change_notification", ["approval_id"])
    op.create_index("ix_change_notification_holder_org_id", "change_notification", ["holder_org_id"])
    op.create_index("ix_change_notification_changed_approval_id", "change_notification", ["changed_approval_id"])
    op.create_index(
        "ix_change_notification_authority_outstanding", "change_notification", ["authority", "due_at"],
        postgresql_where=sa.text("impact IS NULL"),
    )  # fmt: skip
    # An answer is a signed record: the database refuses to change one once given, or to delete any.
    op.execute(
        """
        CREATE FUNCTION change_notification_answered_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR OLD.impact IS NOT NULL THEN
                RAISE EXCEPTION 'change notification % is a signed record: % refused', OLD.id, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER change_notification_answered_once BEFORE UPDATE OR DELETE ON change_notification "
        "FOR EACH ROW EXECUTE FUNCTION change_notification_answered_once()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER change_notification_answered_once ON change_notification")
    op.execute("DROP FUNCTION change_notification_answered_once()")
    op.drop_table("change_notification")

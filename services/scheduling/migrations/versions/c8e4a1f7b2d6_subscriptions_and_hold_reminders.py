"""subscription, delivery, delivery_attempt, webhook_cursor: developers' and facilities' webhooks;
hold_reminder: a hold's reminder sent once before it expires

Revision ID: c8e4a1f7b2d6
Revises: c8e2f4a6b1d3
Create Date: 2026-11-29 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c8e4a1f7b2d6"
down_revision: str | None = "c8e2f4a6b1d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString()
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "subscription",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("url", text, nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("secret", text, nullable=False),
        sa.Column("previous_secret", text, nullable=True),
        sa.Column("previous_secret_expires_at", tz, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", text, nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("deactivated_at", tz, nullable=True),
        sa.Column("secret_rotated_by", text, nullable=True),
        sa.Column("secret_rotated_at", tz, nullable=True),
        sa.Column("org_id", text, nullable=True),
        sa.Column("facility_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("(org_id IS NULL) <> (facility_id IS NULL)", name="ck_subscription_subscriber"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subscription_org_id", "subscription", ["org_id"])
    op.create_index("ix_subscription_facility_id", "subscription", ["facility_id"])
    op.create_table(
        "webhook_cursor",
        sa.Column("name", text, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("outbox_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", text, nullable=False),
        sa.Column("event_type", text, nullable=False),
        sa.Column("status", text, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tz, nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", text, nullable=True),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("delivered_at", tz, nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscription.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "outbox_seq", name="uq_delivery_event"),
    )
    op.create_index("ix_delivery_due", "delivery", ["next_attempt_at"], postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_delivery_subscription_id", "delivery", ["subscription_id"])
    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", tz, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", text, nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_delivery_attempt_delivery_id", "delivery_attempt", ["delivery_id"])
    op.create_table(
        "hold_reminder",
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("hold_expires_at", tz, nullable=False),
        sa.Column("reminded_at", tz, nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["booking.id"]),
        sa.PrimaryKeyConstraint("booking_id", "hold_expires_at"),
    )


def downgrade() -> None:
    op.drop_table("hold_reminder")
    op.drop_table("delivery_attempt")
    op.drop_table("delivery")
    op.drop_table("webhook_cursor")
    op.drop_table("subscription")

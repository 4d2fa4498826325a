"""campaign; booking.campaign_id for a campaign's batches

Revision ID: d3f5a7c9e1b2
Revises: c8e4a1f7b2d6
Create Date: 2026-11-29 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d3f5a7c9e1b2"
down_revision: str | None = "c8e4a1f7b2d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString()
    tz = sa.DateTime(timezone=True)
    # Nullable without a default: no table rewrite; indexed only where set (a booking of its own is not).
    op.add_column("booking", sa.Column("campaign_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_booking_campaign_id", "booking", ["campaign_id"], postgresql_where=sa.text("campaign_id IS NOT NULL")
    )
    op.create_table(
        "campaign",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", text, nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("quote_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", text, nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("product", text, nullable=False),
        sa.Column("run_kind", text, nullable=False),
        sa.Column("approval_id", sa.Uuid(), nullable=True),
        sa.Column("atmp_type", text, nullable=False),
        sa.Column("process", text, nullable=False),
        sa.Column("hold_expires_at", tz, nullable=True),
        sa.Column("materials_requested_at", tz, nullable=True),
        sa.Column("materials_asked_at", tz, nullable=True),
        sa.Column("materials_attempts", sa.Integer(), nullable=False),
        sa.Column("materials_overdue_since", tz, nullable=True),
        sa.Column("shortfalls", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("cancel_reason", text, nullable=True),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("created_by", text, nullable=False),
        sa.Column("updated_at", tz, nullable=False),
        sa.Column("updated_by", text, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("quote_id"),
    )
    op.create_index("ix_campaign_org_id", "campaign", ["org_id"])
    op.create_index("ix_campaign_facility_id", "campaign", ["facility_id"])
    op.create_index(
        "ix_campaign_hold_expires_at",
        "campaign",
        ["hold_expires_at"],
        postgresql_where=sa.text("hold_expires_at IS NOT NULL"),
    )
    op.create_index(
        "ix_campaign_materials_asked_at",
        "campaign",
        ["materials_asked_at"],
        postgresql_where=sa.text("materials_requested_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("campaign")
    op.drop_index("ix_booking_campaign_id", table_name="booking")
    op.drop_column("booking", "campaign_id")

"""manufacturing_request and quote; slot.quote_id for the slots a quote holds

Revision ID: c8e2f4a6b1d3
Revises: b4d8f2a6c1e3
Create Date: 2026-11-29 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c8e2f4a6b1d3"
down_revision: str | None = "b4d8f2a6c1e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString()
    tz = sa.DateTime(timezone=True)
    # Nullable without a default: no table rewrite, and no index (a quote keeps its slot ids).
    op.add_column("slot", sa.Column("quote_id", sa.Uuid(), nullable=True))
    op.create_table(
        "manufacturing_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", text, nullable=False),
        sa.Column("org_id", text, nullable=False),
        sa.Column("product", text, nullable=False),
        sa.Column("atmp_type", text, nullable=False),
        sa.Column("process", text, nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("batch_days", sa.Integer(), nullable=False),
        sa.Column("earliest_start", sa.Date(), nullable=False),
        sa.Column("latest_end", sa.Date(), nullable=False),
        sa.Column("run_kind", text, nullable=False),
        sa.Column("approval_id", sa.Uuid(), nullable=True),
        sa.Column("material_needs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("needs", text, nullable=True),
        sa.Column("attachments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("facility_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("declines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("accepted_quote_id", sa.Uuid(), nullable=True),
        sa.Column("withdrawn_reason", text, nullable=True),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("created_by", text, nullable=False),
        sa.Column("updated_at", tz, nullable=False),
        sa.Column("updated_by", text, nullable=False),
        sa.CheckConstraint("latest_end > earliest_start", name="manufacturing_request_window"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_manufacturing_request_org_id", "manufacturing_request", ["org_id"])
    op.create_index(
        "ix_manufacturing_request_facility_ids", "manufacturing_request", ["facility_ids"], postgresql_using="gin"
    )
    op.create_table(
        "quote",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", text, nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("batches", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("starts_at", tz, nullable=False),
        sa.Column("ends_at", tz, nullable=False),
        sa.Column("currency", text, nullable=False),
        sa.Column("price_per_batch", sa.Numeric(14, 2), nullable=False),
        sa.Column("extras", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("conditions", text, nullable=True),
        sa.Column("valid_until", tz, nullable=False),
        sa.Column("status_reason", text, nullable=True),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("created_by", text, nullable=False),
        sa.Column("updated_at", tz, nullable=False),
        sa.Column("updated_by", text, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quote_request_id", "quote", ["request_id"])
    op.create_index(
        "ix_quote_offered_valid_until", "quote", ["valid_until"], postgresql_where=sa.text("status = 'offered'")
    )


def downgrade() -> None:
    op.drop_table("quote")
    op.drop_table("manufacturing_request")
    op.drop_column("slot", "quote_id")

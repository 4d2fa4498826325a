"""technical_agreement: agreements between a developer organisation and a facility (EU GMP Chapter 7)

Revision ID: b4d8f2a6c1e3
Revises: c6f3b8e1d4a9
Create Date: 2026-11-29 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b4d8f2a6c1e3"
down_revision: str | None = "c6f3b8e1d4a9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString()
    op.create_table(
        "technical_agreement",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", text, nullable=False),
        sa.Column("org_id", text, nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("title", text, nullable=False),
        sa.Column("run_kinds", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("processes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("document_url", text, nullable=True),
        sa.Column("document_sha256", text, nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("signatures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("terminated_reason", text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", text, nullable=False),
        sa.CheckConstraint("valid_until > valid_from", name="technical_agreement_period"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_technical_agreement_facility_id", "technical_agreement", ["facility_id"])
    op.create_index("ix_technical_agreement_org_facility", "technical_agreement", ["org_id", "facility_id"])


def downgrade() -> None:
    op.drop_table("technical_agreement")

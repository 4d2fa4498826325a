"""supplier_change_view: supplier changes touching lots reserved for bookings (from materials)

Revision ID: e7a1c3b5d9f2
Revises: a7c3e9f1b203
Create Date: 2026-11-29 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e7a1c3b5d9f2"
down_revision: str | None = "a7c3e9f1b203"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString()
    op.create_table(
        "supplier_change_view",
        sa.Column("supplier_change_id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("change_type", text, nullable=False),
        sa.Column("description", text, nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("risk_class", text, nullable=False),
        sa.Column("outcome", text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("supplier_change_id", "booking_id"),
    )
    op.create_index("ix_supplier_change_view_booking_id", "supplier_change_view", ["booking_id"])


def downgrade() -> None:
    op.drop_table("supplier_change_view")

"""bookings awaiting materials remember when they last asked, how often, and since when it is overdue

Revision ID: e4f5a6b7c8d9
Revises: d1a0e7b2c903
Create Date: 2026-11-29 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e4f5a6b7c8d9"
down_revision: str | None = "d1a0e7b2c903"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("booking", sa.Column("materials_asked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("booking", sa.Column("materials_attempts", sa.Integer(), server_default="0", nullable=False))
    op.alter_column("booking", "materials_attempts", server_default=None)
    op.add_column("booking", sa.Column("materials_overdue_since", sa.DateTime(timezone=True), nullable=True))
    # A booking already awaiting materials counts as asked once, when it was confirmed.
    op.execute(
        "UPDATE booking SET materials_asked_at = materials_requested_at, materials_attempts = 1"
        " WHERE materials_requested_at IS NOT NULL"
    )
    op.create_index(
        "ix_booking_materials_asked_at",
        "booking",
        ["materials_asked_at"],
        unique=False,
        postgresql_where=sa.text("materials_requested_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_booking_materials_asked_at",
        table_name="booking",
        postgresql_where=sa.text("materials_requested_at IS NOT NULL"),
    )
    op.drop_column("booking", "materials_overdue_since")
    op.drop_column("booking", "materials_attempts")
    op.drop_column("booking", "materials_asked_at")

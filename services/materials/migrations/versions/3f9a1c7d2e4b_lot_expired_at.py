"""lots record when they passed their expiry date

Revision ID: 3f9a1c7d2e4b
Revises: abb86c15335a
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f9a1c7d2e4b"
down_revision: str | None = "abb86c15335a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing lots start unmarked: those already past their date are marked, with their event,
    # by the expiry job's first round, like any other.
    op.add_column("lot", sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_lot_due_for_expiry", "lot", ["expires_on"], unique=False, postgresql_where=sa.text("expired_at IS NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_lot_due_for_expiry", table_name="lot", postgresql_where=sa.text("expired_at IS NULL"))
    op.drop_column("lot", "expired_at")

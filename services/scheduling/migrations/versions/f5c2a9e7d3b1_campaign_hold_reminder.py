"""campaign.hold_reminded_for: a campaign's hold reminder sent once before it expires

Revision ID: f5c2a9e7d3b1
Revises: d3f5a7c9e1b2
Create Date: 2026-11-29 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f5c2a9e7d3b1"
down_revision: str | None = "d3f5a7c9e1b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable without a default: no table rewrite.
    op.add_column("campaign", sa.Column("hold_reminded_for", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("campaign", "hold_reminded_for")

"""approval view keeps the authority the approval is filed with

Revision ID: a8b9c0d1e2f3
Revises: f2b3c4d5e6a7
Create Date: 2026-11-29 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "a8b9c0d1e2f3"
down_revision: str | None = "f2b3c4d5e6a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows from before stay without one (their bookings hidden from regulators) until the
    # approval's next event carries it.
    op.add_column("approval_view", sa.Column("authority", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    op.drop_column("approval_view", "authority")

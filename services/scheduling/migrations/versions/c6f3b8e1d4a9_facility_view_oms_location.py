"""facility_view keeps the facility's EMA OMS location id from registry's events

Revision ID: c6f3b8e1d4a9
Revises: e7a1c3b5d9f2
Create Date: 2026-11-29 19:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c6f3b8e1d4a9"
down_revision: str | None = "e7a1c3b5d9f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("facility_view", sa.Column("oms_location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    op.drop_column("facility_view", "oms_location_id")

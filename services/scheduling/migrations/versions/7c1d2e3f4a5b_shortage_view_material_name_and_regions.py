"""shortage view keeps the material's name and the affected regions

Revision ID: 7c1d2e3f4a5b
Revises: 5e8c6cc7ee5e
Create Date: 2026-11-25 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7c1d2e3f4a5b"
down_revision: str | None = "5e8c6cc7ee5e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shortage_view", sa.Column("material_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    # rows from before are kept with no regions, which the at-risk rule reads as "everywhere"
    op.add_column(
        "shortage_view",
        sa.Column("regions", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
    )
    op.alter_column("shortage_view", "regions", server_default=None)


def downgrade() -> None:
    op.drop_column("shortage_view", "regions")
    op.drop_column("shortage_view", "material_name")

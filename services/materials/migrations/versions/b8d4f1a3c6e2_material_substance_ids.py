"""A material's substance identifiers: EMA SPOR SMS id and FDA UNII (opaque, optional)

Revision ID: b8d4f1a3c6e2
Revises: c4e8a2f6b913
Create Date: 2026-11-29 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "b8d4f1a3c6e2"
down_revision: str | None = "c4e8a2f6b913"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("sms_substance_id", "unii"):
        op.add_column("material", sa.Column(column, sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        op.create_index(f"ix_material_{column}", "material", [column])


def downgrade() -> None:
    for column in ("sms_substance_id", "unii"):
        op.drop_index(f"ix_material_{column}", table_name="material")
        op.drop_column("material", column)

"""webhook secrets can be rotated, the old one signing beside the new for a grace period

Revision ID: c5d2e9f1a8b3
Revises: b3e1c8d4a7f2
Create Date: 2026-12-02 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'c5d2e9f1a8b3'
down_revision: str | None = 'b3e1c8d4a7f2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('subscription', sa.Column('previous_secret', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('subscription', sa.Column('previous_secret_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('subscription', sa.Column('secret_rotated_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('subscription', sa.Column('secret_rotated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('subscription', 'secret_rotated_at')
    op.drop_column('subscription', 'secret_rotated_by')
    op.drop_column('subscription', 'previous_secret_expires_at')
    op.drop_column('subscription', 'previous_secret')

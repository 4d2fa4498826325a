"""decision signer's name and the hash of the approval state it signed

Revision ID: e4b8d2a6c9f1
Revises: d1a0e7b2c904
Create Date: 2026-11-29 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e4b8d2a6c9f1"
down_revision: str | None = "d1a0e7b2c904"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Adding columns leaves the rows as they were (the immutability trigger fires on row changes
# only): decisions signed before keep no name and no hash; every new one has both.
def upgrade() -> None:
    op.add_column("decision", sa.Column("signer_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column("decision", sa.Column("state_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("decision", "state_sha256")
    op.drop_column("decision", "signer_name")

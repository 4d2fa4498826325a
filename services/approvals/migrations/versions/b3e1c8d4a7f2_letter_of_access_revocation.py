"""letters of access can be revoked; revoked ones are kept

Revision ID: b3e1c8d4a7f2
Revises: 7d9ed55a25e0
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'b3e1c8d4a7f2'
down_revision: str | None = '7d9ed55a25e0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('letter_of_access', sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('letter_of_access', sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('letter_of_access', sa.Column('revocation_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    # One live letter per organisation and approval; revoked ones stay beside it as the record.
    op.drop_constraint('uq_letter_of_access', 'letter_of_access', type_='unique')
    op.create_index(
        'uq_letter_of_access', 'letter_of_access', ['approval_id', 'grantee_org_id'], unique=True,
        postgresql_where=sa.text('revoked_at IS NULL'),
    )


def downgrade() -> None:
    op.drop_index('uq_letter_of_access', table_name='letter_of_access', postgresql_where=sa.text('revoked_at IS NULL'))
    # The old schema cannot hold a revoked letter beside a live one: revoked letters are dropped.
    op.execute('DELETE FROM letter_of_access WHERE revoked_at IS NOT NULL')
    op.create_unique_constraint('uq_letter_of_access', 'letter_of_access', ['approval_id', 'grantee_org_id'])
    op.drop_column('letter_of_access', 'revocation_reason')
    op.drop_column('letter_of_access', 'revoked_at')
    op.drop_column('letter_of_access', 'revoked_by')

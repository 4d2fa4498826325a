"""initial schema: the outbox and processed-event tables every service has

Revision ID: 75aca5c25a9b
Revises: 
Create Date: 2026-11-25 11:43:23.124300
"""

from collections.abc import Sequence

from shared.migrations import create_messaging_tables, drop_messaging_tables

revision: str = '75aca5c25a9b'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_messaging_tables()


def downgrade() -> None:
    drop_messaging_tables()

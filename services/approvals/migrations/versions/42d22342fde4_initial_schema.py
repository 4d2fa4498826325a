"""initial schema: the outbox and processed-event tables every service has

Revision ID: 42d22342fde4
Revises: 
Create Date: 2026-11-25 11:43:23.352959
"""

from collections.abc import Sequence

from shared.migrations import create_messaging_tables, drop_messaging_tables

revision: str = '42d22342fde4'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_messaging_tables()


def downgrade() -> None:
    drop_messaging_tables()

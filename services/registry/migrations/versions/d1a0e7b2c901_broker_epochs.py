"""the brokers the outbox relay published to (messaging tables, version 2)

Revision ID: d1a0e7b2c901
Revises: bef16fd79b6b
Create Date: 2026-11-29 08:30:00.000000
"""

from collections.abc import Sequence

from shared.migrations import create_broker_epochs, drop_broker_epochs

revision: str = "d1a0e7b2c901"
down_revision: str | None = "bef16fd79b6b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_broker_epochs()


def downgrade() -> None:
    drop_broker_epochs()

"""the outbox's hash chain and its append-only rule (messaging tables, version 3)

Revision ID: a7c3e9f1b202
Revises: 690d2fd03982
Create Date: 2026-11-29 17:30:00.000000
"""

from collections.abc import Sequence

from shared.migrations import chain_outbox, unchain_outbox

revision: str = "a7c3e9f1b202"
down_revision: str | None = "690d2fd03982"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    chain_outbox()


def downgrade() -> None:
    unchain_outbox()

"""the outbox's hash chain and its append-only rule (messaging tables, version 3)

Revision ID: a7c3e9f1b203
Revises: b9c0d1e2f3a4
Create Date: 2026-11-29 17:30:00.000000
"""

from collections.abc import Sequence

from shared.migrations import chain_outbox, unchain_outbox

revision: str = "a7c3e9f1b203"
down_revision: str | None = "b9c0d1e2f3a4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    chain_outbox()


def downgrade() -> None:
    unchain_outbox()

"""slot.booking_id loses its index: nothing looks slots up by booking (a booking keeps its slot ids)

Revision ID: b9c0d1e2f3a4
Revises: a8b9c0d1e2f3
Create Date: 2026-11-29 17:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b9c0d1e2f3a4"
down_revision: str | None = "a8b9c0d1e2f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every hold, confirmation, cancellation and expiry moves slots, and a moved slot gets a new
    # entry in each of its indexes: this one served no read.
    op.drop_index("ix_slot_booking_id", table_name="slot")


def downgrade() -> None:
    op.create_index("ix_slot_booking_id", "slot", ["booking_id"])

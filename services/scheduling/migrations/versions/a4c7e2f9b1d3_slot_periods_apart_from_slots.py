"""a live slot's period in slot_period, kept by triggers on slot: holds no longer write the GiST index

Revision ID: a4c7e2f9b1d3
Revises: f5c2a9e7d3b1
Create Date: 2026-11-30 03:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSTZRANGE

revision: str = "a4c7e2f9b1d3"
down_revision: str | None = "f5c2a9e7d3b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A slot's period goes in with the slot (one statement per insert, however many rows) and out
# when it is withdrawn; a change of status alone (held, booked, open again) fires nothing. Slots
# never change suite or time and are never un-withdrawn, but should one, its period follows.
TRIGGERS = (
    """
CREATE FUNCTION slot_period_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO slot_period (slot_id, suite_id, period)
    SELECT id, suite_id, tstzrange(starts_at, ends_at) FROM added WHERE status <> 'withdrawn';
    RETURN NULL;
END $$""",
    """CREATE TRIGGER slot_period_added AFTER INSERT ON slot REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION slot_period_added()""",
    """CREATE FUNCTION slot_period_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM slot_period WHERE slot_id = OLD.id;
    IF NEW.status <> 'withdrawn' THEN
        INSERT INTO slot_period (slot_id, suite_id, period)
        VALUES (NEW.id, NEW.suite_id, tstzrange(NEW.starts_at, NEW.ends_at));
    END IF;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER slot_period_changed AFTER UPDATE ON slot FOR EACH ROW
    WHEN ((OLD.status = 'withdrawn') IS DISTINCT FROM (NEW.status = 'withdrawn')
          OR OLD.suite_id IS DISTINCT FROM NEW.suite_id
          OR OLD.starts_at IS DISTINCT FROM NEW.starts_at
          OR OLD.ends_at IS DISTINCT FROM NEW.ends_at)
    EXECUTE FUNCTION slot_period_changed()""",
)


def upgrade() -> None:
    op.create_table(
        "slot_period",
        sa.Column("slot_id", sa.Uuid(), sa.ForeignKey("slot.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("suite_id", sa.Uuid(), nullable=False),
        sa.Column("period", TSTZRANGE(), nullable=False),
    )
    op.execute(
        "INSERT INTO slot_period (slot_id, suite_id, period)"
        " SELECT id, suite_id, tstzrange(starts_at, ends_at) FROM slot WHERE status <> 'withdrawn'"
    )
    op.drop_constraint("slot_no_overlap", "slot")
    op.execute("ALTER TABLE slot_period ADD CONSTRAINT slot_no_overlap EXCLUDE USING gist (suite_id WITH =, period WITH &&)")
    for statement in TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    for change in ("changed", "added"):
        op.execute(f"DROP TRIGGER slot_period_{change} ON slot")
        op.execute(f"DROP FUNCTION slot_period_{change}()")
    op.drop_table("slot_period")
    op.execute(
        "ALTER TABLE slot ADD CONSTRAINT slot_no_overlap EXCLUDE USING gist"
        " (suite_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (status <> 'withdrawn')"
    )

"""supplier change notifications, the lots they touch, each facility's answer; quarantined lots

Revision ID: c4e8a2f6b913
Revises: a7c3e9f1b202
Create Date: 2026-11-29 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c4e8a2f6b913"
down_revision: str | None = "a7c3e9f1b202"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString()
    op.create_table(
        "supplier_change",
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", text, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("supplier_id", sa.Uuid(), nullable=False),
        sa.Column("change_type", text, nullable=False),
        sa.Column("description", text, nullable=False),
        sa.Column("material_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("risk_class", text, nullable=False),
        sa.CheckConstraint(
            "change_type IN ('process','site','formulation','raw_material','specification','packaging','other')",
            name="ck_supplier_change_type",
        ),
        sa.CheckConstraint("risk_class IN ('minor','major','critical')", name="ck_supplier_change_risk_class"),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_supplier_change_supplier_id", "supplier_change", ["supplier_id"])
    op.create_index("ix_supplier_change_material_ids", "supplier_change", ["material_ids"], postgresql_using="gin")
    op.create_table(
        "supplier_change_lot",
        sa.Column("supplier_change_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["supplier_change_id"], ["supplier_change.id"]),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.PrimaryKeyConstraint("supplier_change_id", "lot_id"),
    )
    op.create_index("ix_supplier_change_lot_lot_id", "supplier_change_lot", ["lot_id"])
    op.create_table(
        "supplier_change_facility",
        sa.Column("supplier_change_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", text, nullable=True),
        sa.Column("assessment", text, nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", text, nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('accepted','quarantine_lots')", name="ck_supplier_change_facility_outcome"
        ),
        sa.CheckConstraint("(outcome IS NULL) = (answered_at IS NULL)", name="ck_supplier_change_facility_answered"),
        sa.ForeignKeyConstraint(["supplier_change_id"], ["supplier_change.id"]),
        sa.PrimaryKeyConstraint("supplier_change_id", "facility_id"),
    )
    op.create_index("ix_supplier_change_facility_facility_id", "supplier_change_facility", ["facility_id"])
    op.add_column("lot", sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("lot", sa.Column("quarantined_by_change_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("lot", "quarantined_by_change_id")
    op.drop_column("lot", "quarantined_at")
    op.drop_table("supplier_change_facility")
    op.drop_table("supplier_change_lot")
    op.drop_table("supplier_change")

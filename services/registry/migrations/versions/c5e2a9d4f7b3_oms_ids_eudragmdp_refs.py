"""EMA identifiers: a facility's OMS organisation and location ids (one active facility per
location), the EudraGMDP reference of certificates and non-compliance statements

Revision ID: c5e2a9d4f7b3
Revises: a7c3e9f1b201
Create Date: 2026-11-29 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c5e2a9d4f7b3"
down_revision: str | None = "a7c3e9f1b201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("facility", sa.Column("oms_organisation_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column("facility", sa.Column("oms_location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_index("ix_facility_oms_organisation_id", "facility", ["oms_organisation_id"])
    op.create_index(
        "uq_facility_active_oms_location", "facility", ["oms_location_id"], unique=True,
        postgresql_where=sa.text("active"),
    )  # fmt: skip
    for table in ("certificate", "noncompliance_statement"):
        op.add_column(table, sa.Column("eudragmdp_ref", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        op.create_index(f"ix_{table}_eudragmdp_ref", table, ["eudragmdp_ref"])


def downgrade() -> None:
    for table in ("certificate", "noncompliance_statement"):
        op.drop_index(f"ix_{table}_eudragmdp_ref", table_name=table)
        op.drop_column(table, "eudragmdp_ref")
    op.drop_index("uq_facility_active_oms_location", table_name="facility")
    op.drop_index("ix_facility_oms_organisation_id", table_name="facility")
    op.drop_column("facility", "oms_location_id")
    op.drop_column("facility", "oms_organisation_id")

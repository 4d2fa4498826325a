"""certificate signatures: insert-only records of the regulators' signed certificate actions

Revision ID: a7c3e915d2b8
Revises: d1a0e7b2c901
Create Date: 2026-11-29 17:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "a7c3e915d2b8"
down_revision: str | None = "d1a0e7b2c901"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificate_signature",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("certificate_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("facility_version", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("signer", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("signer_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("authority", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("meaning", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate.id"]),
        sa.ForeignKeyConstraint(["facility_id"], ["facility.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_certificate_signature_certificate_id"), "certificate_signature", ["certificate_id"], unique=False
    )
    # Signatures are records, not state: the database itself refuses to edit or delete them.
    op.execute(
        """
        CREATE FUNCTION certificate_signature_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'certificate signatures are immutable (EU GMP Annex 11): % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER certificate_signature_immutable BEFORE UPDATE OR DELETE ON certificate_signature "
        "FOR EACH ROW EXECUTE FUNCTION certificate_signature_is_immutable()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER certificate_signature_immutable ON certificate_signature")
    op.execute("DROP FUNCTION certificate_signature_is_immutable()")
    op.drop_index(op.f("ix_certificate_signature_certificate_id"), table_name="certificate_signature")
    op.drop_table("certificate_signature")

"""the catalogue's vocabulary: the distinct words of its search vectors, for typo-tolerant search

Revision ID: 690d2fd03982
Revises: d1a0e7b2c902
Create Date: 2026-11-29 10:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "690d2fd03982"
down_revision: str | None = "d1a0e7b2c902"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The words of the given rows' search vectors that have a letter (numbers are matched as typed,
# never corrected), in one order, so that two writers learning the same new words wait on each
# other instead of deadlocking.
NEW_WORDS = """
    INSERT INTO material_word (word)
    SELECT DISTINCT word FROM {rows}, unnest(tsvector_to_array(search_vector)) AS word
    WHERE word ~ '[[:alpha:]]'
    ORDER BY word
    ON CONFLICT DO NOTHING
"""


def upgrade() -> None:
    op.create_table(
        "material_word",
        sa.Column("word", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("word"),
    )
    op.create_index(
        "ix_material_word_trgm", "material_word", ["word"], unique=False,
        postgresql_using="gin", postgresql_ops={"word": "gin_trgm_ops"},
    )  # fmt: skip
    # One statement learns the words of all the rows it wrote (a bulk COPY included); a trigger
    # with transition tables serves one event only, hence one for inserts and one for updates.
    op.execute(f"""
        CREATE FUNCTION material_word_learn() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {NEW_WORDS.format(rows="written")};
            RETURN NULL;
        END $$
    """)  # fmt: skip
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER material_word_on_{event.lower()} AFTER {event} ON material "
            "REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION material_word_learn()"
        )
    op.execute(NEW_WORDS.format(rows="material"))


def downgrade() -> None:
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER material_word_on_{event} ON material")
    op.execute("DROP FUNCTION material_word_learn()")
    op.drop_index("ix_material_word_trgm", table_name="material_word", postgresql_using="gin",
                  postgresql_ops={"word": "gin_trgm_ops"})  # fmt: skip
    op.drop_table("material_word")

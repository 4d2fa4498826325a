"""Alembic, once for all services: each service owns `services/<name>/migrations/`, whose env.py
calls `run_env(metadata)`; the hub and the tests call `upgrade(service, url)`."""

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import create_async_engine

from shared.database import messaging_metadata

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("version_table", "alembic_version")
    config.attributes["configure_logger"] = False
    return config


def upgrade(service: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, url), revision)


def revision(service: str, url: str, message: str) -> None:
    """Autogenerate a migration from the difference between the models and the database."""
    command.revision(alembic_config(service, url), message=message, autogenerate=True)


def create_messaging_tables() -> None:
    """The outbox and processed-event tables, version 1: every service's first migration calls
    this. Frozen as written; a later change to these tables gets a step of its own."""
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("envelope", JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["seq"], unique=False, postgresql_where=sa.text("published_at IS NULL")
    )
    op.create_table(
        "processed_event",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )


def create_broker_epochs() -> None:
    """Messaging tables, version 2: the brokers the relay has published to, so that a broker
    replaced by one that lost its log (a restarted memory broker, a new cluster) is recognised and
    what it held is published again. Every service's step of this name calls it."""
    op.create_table(
        "broker_epoch",
        sa.Column("cluster_id", sa.Text(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("cluster_id"),
    )


def drop_broker_epochs() -> None:
    op.drop_table("broker_epoch")


# The outbox is the event history: append-only. The relay may set published_at (and reset it for a
# replaced broker) and chain a row once; anything else is refused, naming this rule. A column added
# to the outbox later must join the compared ones here. TRUNCATE fires no row trigger (the tests
# empty the tables between tests); an emptied chain is caught by the anchors (shared/audit.py).
APPEND_ONLY_RULE = "outbox_append_only"
_APPEND_ONLY_FUNCTION = f"""
CREATE FUNCTION {APPEND_ONLY_RULE}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY_RULE}: % of outbox row % (event %) refused', TG_OP, OLD.seq, OLD.event_id
        USING ERRCODE = 'restrict_violation',
              DETAIL = 'The event history is append-only: only published_at may change, and chain_seq and '
                       'chain_hash once, from NULL; no row may be deleted.';
END $$"""
_APPEND_ONLY_UPDATE = f"""
CREATE TRIGGER {APPEND_ONLY_RULE}_update BEFORE UPDATE ON outbox FOR EACH ROW
WHEN ((OLD.seq, OLD.event_id, OLD.topic, OLD.key, OLD.type, OLD.envelope, OLD.created_at)
          IS DISTINCT FROM (NEW.seq, NEW.event_id, NEW.topic, NEW.key, NEW.type, NEW.envelope, NEW.created_at)
      OR (OLD.chain_seq IS NOT NULL AND OLD.chain_seq IS DISTINCT FROM NEW.chain_seq)
      OR (OLD.chain_hash IS NOT NULL AND OLD.chain_hash IS DISTINCT FROM NEW.chain_hash))
EXECUTE FUNCTION {APPEND_ONLY_RULE}()"""
_APPEND_ONLY_DELETE = f"""
CREATE TRIGGER {APPEND_ONLY_RULE}_delete BEFORE DELETE ON outbox FOR EACH ROW
EXECUTE FUNCTION {APPEND_ONLY_RULE}()"""


CHAINED = sa.text("chain_seq IS NOT NULL")


def chain_outbox() -> None:
    """Messaging tables, version 3: the outbox's hash chain (shared/chain.py), every row already
    there chained in seq order, and the append-only rule. Every service's step of this name calls it."""
    from shared.chain import chain_all

    op.add_column("outbox", sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    op.add_column("outbox", sa.Column("chain_hash", sa.LargeBinary(), nullable=True))
    op.create_check_constraint("ck_outbox_chained_whole", "outbox", "(chain_seq IS NULL) = (chain_hash IS NULL)")
    # Partial: a row written or published before it is chained adds no entry (most rows, twice).
    op.create_index("ux_outbox_chain_seq", "outbox", ["chain_seq"], unique=True, postgresql_where=CHAINED)
    op.create_index("ix_outbox_unchained", "outbox", ["seq"], postgresql_where=sa.text("chain_seq IS NULL"))
    op.create_index(  # the last anchor, found without reading the history backwards
        "ix_outbox_anchors", "outbox", ["seq"], postgresql_where=sa.text("type LIKE 'gmphub.%.audit.anchored.v1'")
    )
    chain_all(op.get_bind())
    op.execute(_APPEND_ONLY_FUNCTION)
    op.execute(_APPEND_ONLY_UPDATE)
    op.execute(_APPEND_ONLY_DELETE)


def unchain_outbox() -> None:
    op.execute(f"DROP TRIGGER {APPEND_ONLY_RULE}_delete ON outbox")
    op.execute(f"DROP TRIGGER {APPEND_ONLY_RULE}_update ON outbox")
    op.execute(f"DROP FUNCTION {APPEND_ONLY_RULE}()")
    op.drop_index("ix_outbox_anchors", table_name="outbox")
    op.drop_index("ix_outbox_unchained", table_name="outbox")
    op.drop_index("ux_outbox_chain_seq", table_name="outbox", postgresql_where=CHAINED)
    op.drop_constraint("ck_outbox_chained_whole", "outbox")
    op.drop_column("outbox", "chain_hash")
    op.drop_column("outbox", "chain_seq")


def drop_messaging_tables() -> None:
    op.drop_table("processed_event")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")


def target_metadata(service_metadata: sa.MetaData) -> list[sa.MetaData]:
    return [messaging_metadata, service_metadata]


def run_env(service_metadata: sa.MetaData) -> None:
    """The body of every service's migrations/env.py."""
    targets = target_metadata(service_metadata)
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "alembic_config() sets sqlalchemy.url"
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=targets, literal_binds=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: sa.Connection) -> None:
        # Replicas' init containers may start together: one migrates, the others wait, then find it done.
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('gmphub-migrate'))"))
        context.configure(connection=connection, target_metadata=targets, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=sa.pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())

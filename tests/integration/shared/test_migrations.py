"""Each service's migrations build exactly the schema its models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from shared.migrations import target_metadata
from shared.settings import SERVICES


@pytest.mark.parametrize("service", SERVICES)
async def test_models_and_migrations_agree(settings, service):
    import importlib

    models = importlib.import_module(f"services.{service}.models")
    engine = create_async_engine(settings.database_url(service))  # migrated to head by the fixtures
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), target_metadata(models.metadata)
                )
            )
    finally:
        await engine.dispose()
    assert differences == [], f"{service}: models and migrations differ; run `gmp-hub revision {service} -m ...`"

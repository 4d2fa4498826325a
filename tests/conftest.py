"""Fixtures: one embedded PostgreSQL and one Tansu broker per test session (or the servers the
`GMPHUB_*` variables name: point them at throw-away databases, the tests truncate them), the four
services running in-process on them, and a clean state for every test."""

import asyncio
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from devtools.stack import EmbeddedKafka, EmbeddedPostgres, free_port
from shared import auth
from shared.auth import ensure_dev_keys
from shared.events import topic_of
from shared.kafka import dlq_of, ensure_topics
from shared.migrations import upgrade
from shared.service import create_app
from shared.settings import SERVICES, Settings, get_settings
from tests.support import RunningService, Tokens


@pytest.fixture(autouse=True)
async def _tasks_shown_if_hung(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Shortly before pytest-timeout fails a hung test, print every asyncio task's stack: the
    threads' stacks it prints show only an idle event loop, not what the test awaits."""
    timeout = float(request.config.getini("timeout") or 0)
    handle = asyncio.get_running_loop().call_later(max(timeout - 10, 1), _print_tasks) if timeout else None
    yield
    if handle:
        handle.cancel()


def _tasks() -> str:
    stacks = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(file=stacks)
    return f"its event loop's tasks:\n{stacks.getvalue()}"


def _print_tasks() -> None:
    print(f"\n--- a test is about to time out; {_tasks()}", flush=True)


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    # Not pytest's numbered temp folders: a concurrent pytest run may prune them under us.
    data_dir = Path(tempfile.mkdtemp(prefix="gmphub-test-"))
    env: dict[str, str] = {
        "GMPHUB_DATA_DIR": str(data_dir),
        "GMPHUB_OUTBOX_POLL_SECONDS": "0.2",
        "GMPHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",  # the tests' receivers listen on 127.0.0.1
        # The suite sends thousands of requests from one address with a few tokens: limits that never
        # bite, but are counted (tests/integration/shared/test_guards.py sets strict ones).
        "GMPHUB_RATE_LIMIT_PER_PRINCIPAL": "1000000/minute",
        "GMPHUB_RATE_LIMIT_PER_ADDRESS": "1000000/minute",
        "GMPHUB_RATE_LIMIT_FAILED_AUTHENTICATION": "1000000/minute",
        "GMPHUB_RATE_LIMIT_BOOKINGS": "1000000/minute",
    }
    kafka = postgres = None
    if not os.environ.get("GMPHUB_KAFKA_BOOTSTRAP_SERVERS"):
        kafka = EmbeddedKafka(free_port(), data_dir / "tansu.log")
        kafka.start()
        env["GMPHUB_KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers
    if not all(os.environ.get(f"GMPHUB_{s.upper()}_DATABASE_URL") for s in SERVICES):
        postgres = EmbeddedPostgres(data_dir / "postgres", free_port())
        postgres.start()
        postgres.create_databases([f"test_{s}" for s in SERVICES])
        env |= {f"GMPHUB_{s.upper()}_DATABASE_URL": postgres.url(f"test_{s}") for s in SERVICES}
    os.environ.update(env)
    get_settings.cache_clear()
    auth._verifier.cache_clear()
    current = get_settings()
    ensure_dev_keys(current.keys_dir)
    for service in SERVICES:
        upgrade(service, current.database_url(service))
    asyncio.run(ensure_topics(current, [t for s in SERVICES for t in (topic_of(s), dlq_of(topic_of(s)))]))
    yield current
    if kafka:
        kafka.stop()
    if postgres:
        postgres.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def tokens(settings: Settings) -> Tokens:
    return Tokens(settings)


@pytest.fixture(scope="session")
async def hub(settings: Settings) -> AsyncIterator[dict[str, RunningService]]:
    """The four services, each with its relay and consumer, running in this process."""
    import importlib

    running: dict[str, RunningService] = {}
    async with AsyncExitStack() as stack:
        for name in SERVICES:
            spec = importlib.import_module(f"services.{name}.main").spec
            app = create_app(spec, settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
            running[name] = RunningService(name, app, client)
        for service in running.values():  # consumers in their groups before any test publishes
            while not service.app.state.consumer.joined:
                await asyncio.sleep(0.05)
        yield running


async def _truncate_all(hub: dict[str, RunningService]) -> None:
    for service in hub.values():
        for attempt in range(10):
            try:
                await _truncate(service)
                break
            except DBAPIError as exc:  # a consumer still busy with the last test's events
                if attempt == 9 or "deadlock" not in str(exc.orig).lower():
                    raise
                await asyncio.sleep(0.1)


async def _truncate(service: RunningService) -> None:
    """Empty every table. A lock held past the timeout is reported with what holds it (seen while
    the TRUNCATE still waits: the holder may be gone by the time it gives up) and every task's
    stack, as a warning; the TRUNCATE is tried once more before the test fails."""
    for attempt in (1, 2):
        async with service.context.db.engine.begin() as conn:
            tables = await conn.scalars(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
            names = ", ".join(f'"{t}"' for t in tables)
            if not names:
                return
            await conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_SECONDS}s'"))
            waiting = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
            holders = asyncio.create_task(_holders(service, waiting, after=LOCK_WAIT_SECONDS - 5))
            try:
                await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                return
            except DBAPIError as exc:
                if "lock timeout" not in str(exc.orig).lower():
                    raise
                report = f"{service.name}: TRUNCATE waited {LOCK_WAIT_SECONDS} s for\n{await holders}\n{_tasks()}"
                if attempt == 2:
                    raise AssertionError(report) from exc
                warnings.warn(report, stacklevel=1)
            finally:
                holders.cancel()


LOCK_WAIT_SECONDS = 30


async def _holders(service: RunningService, waiting: int, after: float) -> str:
    """What blocks backend `waiting`, read while it still waits (any database: pg_blocking_pids)."""
    await asyncio.sleep(after)
    async with service.context.db.engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT pid, datname, backend_type, state, wait_event_type, wait_event, now() - xact_start AS open_for,"
                " application_name, left(query, 400) AS query FROM pg_stat_activity"
                " WHERE pid = ANY(pg_blocking_pids(:waiting))"
            ),
            {"waiting": waiting},
        )
        return (
            "\n".join(
                f"  {r.pid} {r.backend_type} in {r.datname} {r.state} (waiting: {r.wait_event_type}/{r.wait_event})"
                f" for {r.open_for} [{r.application_name}]: {r.query}"
                for r in rows
            )
            or "  nothing still holding it"
        )


@pytest.fixture
async def clean_hub(hub: dict[str, RunningService]) -> dict[str, RunningService]:
    """The running services with every table emptied first."""
    await _truncate_all(hub)
    return hub


@pytest.fixture
def registry(clean_hub: dict[str, RunningService]) -> RunningService:
    return clean_hub["registry"]


@pytest.fixture
def materials(clean_hub: dict[str, RunningService]) -> RunningService:
    return clean_hub["materials"]


@pytest.fixture
def scheduling(clean_hub: dict[str, RunningService]) -> RunningService:
    return clean_hub["scheduling"]


@pytest.fixture
def approvals(clean_hub: dict[str, RunningService]) -> RunningService:
    return clean_hub["approvals"]


@pytest.fixture(scope="session")
async def scratch_database(settings: Settings) -> AsyncIterator:
    """`await scratch_database(service)` makes a fresh database on the test server, migrated like
    that service's, for mechanism tests that must not share a database with a running relay."""
    import uuid

    import asyncpg
    from sqlalchemy.engine import make_url

    created: list[str] = []
    admin_dsn = ""

    async def make(service: str) -> str:
        nonlocal admin_dsn
        url = make_url(settings.database_url(service))
        admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        name = f"scratch_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        created.append(name)
        scratch_url = url.set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(upgrade, service, scratch_url)
        return scratch_url

    yield make
    if created:
        conn = await asyncpg.connect(admin_dsn)
        try:
            for name in created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(scope="module")
def private_broker() -> Iterator[EmbeddedKafka]:
    """A broker of the module's own, which its tests may stop and start again."""
    kafka = EmbeddedKafka(free_port())
    kafka.start()
    yield kafka
    kafka.stop()

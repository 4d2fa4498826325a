"""Async engine and sessions (SQLModel on asyncpg), the messaging tables every service database
holds, and the unit of work that commits a state change together with its events."""

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.events import Envelope, Event
from shared.observability import acting_person, correlation_id
from shared.problems import NotFound
from shared.settings import Settings
from shared.tracing import current_traceparent

# Mechanism tables, the same in every service database; services add their own metadata beside it.
messaging_metadata = sa.MetaData()

outbox = sa.Table(
    "outbox",
    messaging_metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("envelope", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    # The hash chain (shared/chain.py): set once by the chain job after commit, never by the writer.
    sa.Column("chain_seq", sa.BigInteger),
    sa.Column("chain_hash", sa.LargeBinary),
    sa.Index("ix_outbox_unpublished", "seq", postgresql_where=sa.text("published_at IS NULL")),
    sa.Index("ux_outbox_chain_seq", "chain_seq", unique=True, postgresql_where=sa.text("chain_seq IS NOT NULL")),
    sa.Index("ix_outbox_unchained", "seq", postgresql_where=sa.text("chain_seq IS NULL")),
    sa.Index("ix_outbox_anchors", "seq", postgresql_where=sa.text("type LIKE 'gmphub.%.audit.anchored.v1'")),
    sa.CheckConstraint("(chain_seq IS NULL) = (chain_hash IS NULL)", name="ck_outbox_chained_whole"),
)

processed_event = sa.Table(
    "processed_event",
    messaging_metadata,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

broker_epoch = sa.Table(
    "broker_epoch",
    messaging_metadata,
    sa.Column("cluster_id", sa.Text, primary_key=True),
    # The outbox rows from this seq on went (or go) to this broker: what to publish again if it
    # is replaced by one that lost them.
    sa.Column("first_seq", sa.BigInteger, nullable=False),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)


# SQLSTATEs that say the server is away or going, not that the statement was wrong: connection
# exceptions (class 08), shutting down or starting up (57P01-57P03), too many connections (53300).
OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind an error, whether SQLAlchemy wrapped it or not."""
    for candidate in (exc, getattr(exc, "orig", None), exc.__cause__):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def is_outage(exc: BaseException) -> bool:
    """The database or network is away: the event is fine and must wait, not go to the DLQ."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    if code := sqlstate(exc):
        if code.startswith(OUTAGE_SQLSTATES):
            return True
        if code.startswith("22"):  # a refused value: its connection is closed, not away
            return False
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


class Bell:
    """A broadcast wake-up: `ring()` wakes every task waiting now, and each goes on looking for
    work itself. A waiter takes a `ticket()` before it looks, so a ring that comes while it is
    busy is not lost: waiting on that ticket then returns at once."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()
        self._rung = asyncio.Event()  # the next ticket waits for the next ring

    def ticket(self) -> asyncio.Event:
        return self._rung

    async def wait(self, timeout: float, ticket: asyncio.Event | None = None) -> None:
        """Until the bell rings (or rang since `ticket` was taken), or `timeout` seconds pass."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the bell rings, and the waiter would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await (ticket or self._rung).wait()


class Pace:
    """At most one round every `seconds` while work keeps coming: a loop a bell wakes after every
    commit gathers a burst of commits into one round instead of one round each, and a loop that
    stood idle starts at once. `round()` returns when the next round may start."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last = -seconds

    async def round(self) -> None:
        loop = asyncio.get_running_loop()
        if (pause := self._last + self.seconds - loop.time()) > 0:
            await asyncio.sleep(pause)
        self._last = loop.time()


def create_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    """No pre-ping: it cost every checkout three round trips (BEGIN, a ping, ROLLBACK). A pooled
    connection the server dropped fails its first statement instead: SQLAlchemy then replaces every
    connection of the pool older than that failure, and the failure is an outage (`is_outage`), so
    that request is answered 503 with Retry-After and a consumer or job waits and retries.

    Up to `pool_size` connections, all kept once opened, no overflow: an overflow connection closed
    on its return was opened again moments later under load (a new backend, its statements prepared
    anew), 64 times in 10 s of holds from 32 clients."""
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
    sa.event.listen(engine.sync_engine, "handle_error", _discard_half_sent)
    return engine


def driver_dsn(url: str | sa.URL) -> str:
    """A SQLAlchemy database URL as asyncpg takes it."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def bad_value(exc: BaseException | None) -> bool:
    """A value refused as data (SQLSTATE class 22: an integer past 64 bits, a NUL in text), by
    PostgreSQL or by asyncpg itself before the statement reached it."""
    return isinstance(exc, asyncpg.DataError) or (
        isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError)
    )


def _discard_half_sent(context: sa.engine.ExceptionContext) -> None:
    """A connection whose statement was refused a value is closed, not pooled again. asyncpg
    prepares with Parse and Describe and sends the Sync with the Bind; an argument it cannot
    encode fails in between, and the server waits mid-statement, in autocommit inside an implicit
    transaction holding the statement's locks (a TRUNCATE then waited on it for ever). Rare, and
    a new connection costs milliseconds: every refused value closes its connection."""
    if bad_value(context.original_exception.__cause__):
        context.is_disconnect = True


COPIED_EVENTS = 100  # from this many events on, a flush writes them by COPY
# Connections per search pool. With 4, 32 clients queued for them and a few waited 300–600 ms while
# others barged in (R7: p50 20 ms, p99 310–420 ms); with 8, 710–860 searches/s at p99 180–220 ms.
# The barging is the pool's own queue: a newcomer takes the connection a woken waiter was handed,
# and the waiter goes to the back of the line. Searches now queue first-come first-served on a gate
# of as many turns as connections (R7: p99 283–310 → 139 ms, 560–625 → 762 searches/s). The number
# is the database's, not the process's: two scheduling processes of 8 each put R7's p99 at 113 ms,
# of 4 each at 87 ms (one process of 8: 86 ms), so replicas share it.
SEARCH_CONNECTIONS: int = Settings.model_fields["search_connections"].default  # GMPHUB_SEARCH_CONNECTIONS's


DRIVER_DIALECT = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class DriverStatement:
    """A SQLAlchemy Core statement compiled once for the driver: its SQL in asyncpg's `$n` style,
    and its parameters in that order, each with the value it takes when a call gives none."""

    sql: str
    parameters: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, statement: sa.ClauseElement) -> Self:
        compiled = statement.compile(dialect=DRIVER_DIALECT)
        order: list[str] = getattr(compiled, "positiontup", None) or []  # a positional dialect's SQL compiler's
        return cls(str(compiled), tuple((name, compiled.params[name]) for name in order))

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        return [values.get(name, default) for name, default in self.parameters]


Fetch = Callable[..., Awaitable[list[asyncpg.Record]]]  # UnitOfWork.fetch
CopyRows = Callable[[str, list[str], Iterable[tuple[Any, ...]]], Awaitable[None]]  # UnitOfWork.copy_rows

OUTBOX_COLUMNS = ("event_id", "topic", "key", "type", "envelope")


def _insert_outbox(first: int) -> str:
    """A unit's events as one statement whatever their number: the columns as arrays (parameters
    `$first` on), the envelopes as JSON text that PostgreSQL parses once."""
    arrays = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(("uuid", "text", "text", "text", "text")))
    return (
        "INSERT INTO outbox (event_id, topic, key, type, envelope) SELECT event_id, topic, key, type, envelope::jsonb"
        f" FROM unnest({arrays}) AS e(event_id, topic, key, type, envelope)"
    )


INSERT_OUTBOX = DriverStatement(_insert_outbox(1), tuple((column, None) for column in OUTBOX_COLUMNS))


_WITH_EVENTS: dict[str, DriverStatement] = {}  # by the SQL of the write


def with_events(write: DriverStatement) -> DriverStatement:
    """`write` (an INSERT) and the outbox rows of a unit's events as one statement: a round trip and
    a statement fewer for a use case that writes one row beside its events (a hold's booking)."""
    if (combined := _WITH_EVENTS.get(write.sql)) is None:
        if clash := {name for name, _ in write.parameters} & set(OUTBOX_COLUMNS):
            raise ValueError(f"parameters named as outbox columns: {sorted(clash)}")
        sql = f"WITH written AS ({write.sql}) {_insert_outbox(len(write.parameters) + 1)}"
        combined = _WITH_EVENTS[write.sql] = DriverStatement(sql, write.parameters + INSERT_OUTBOX.parameters)
    return combined


@contextlib.contextmanager
def _as_sqlalchemy_errors(statement: str) -> Iterator[None]:
    """The driver's refusals as SQLAlchemy raises them: a broken constraint as IntegrityError (a
    409), a malformed value as DataError (a 422)."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(statement, None, exc) from exc
    except asyncpg.DataError as exc:
        raise DataError(statement, None, exc) from exc
    except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:  # an outage: a 503, a retry
        if bad_value(exc):  # bad input, caught by the driver itself
            raise DataError(statement, None, exc) from exc
        raise OperationalError(statement, None, exc) from exc
    except asyncpg.PostgresError as exc:  # any other, its SQLSTATE readable by `sqlstate`
        raise DBAPIError(statement, None, exc) from exc


class UnitOfWork:
    """One transaction. Events emitted inside it become outbox rows in that same transaction,
    so they are published if and only if the state change commits."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        actor: str | None,
        causation_id: str | None = None,
        on_commit: Bell | None = None,
    ) -> None:
        self._sessions = sessions
        self.actor = actor
        self.causation_id = causation_id
        self._on_commit = on_commit
        self._pending: list[tuple[Envelope, Event]] = []
        self.envelopes: list[Envelope] = []
        self._driver: asyncpg.Connection | None = None
        self._written_with_events: tuple[DriverStatement, dict[str, Any]] | None = None

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        self.attach(self.session)
        return self

    def attach(self, session: AsyncSession) -> None:
        """A service's unit of work binds its repositories to the session here."""

    async def __aexit__(self, *exc: object) -> None:
        # close() discards an uncommitted transaction without expiring what was loaded, so rows
        # read inside the block stay readable after it.
        await self.session.close()

    def emit(self, *events: Event) -> None:
        """Wrap the events now: they carry the correlation, cause and trace of the moment they
        were emitted (a consumer handles a batch of events in one unit of work)."""
        person = acting_person.get()
        context = {
            "correlation_id": correlation_id.get(),
            "causation_id": self.causation_id,
            "actor_name": person[1] if person and person[0] == self.actor else None,  # a service acts as itself
        }
        self._pending.extend(
            (Envelope.wrap(e, actor=self.actor, traceparent=current_traceparent(), **context), e) for e in events
        )

    async def driver(self) -> asyncpg.Connection:
        """The driver's connection of this unit's transaction. Statements a hot path sends many of
        go straight to it (`fetch`, `copy_rows`): SQLAlchemy's session and result layers cost more
        than the statement's own round trip (a hold: 0.8 → 0.55 CPU ms for three statements)."""
        if self._driver is None:
            pooled = await (await self.session.connection()).get_raw_connection()
            adapted = pooled.dbapi_connection
            if adapted._transaction is None:  # type: ignore[union-attr]  # its BEGIN waits for a first statement
                await adapted._start_transaction()  # type: ignore[union-attr]
            self._driver = pooled.driver_connection
        return self._driver

    async def fetch(self, statement: DriverStatement, **values: Any) -> list[asyncpg.Record]:
        """Run a compiled statement in this unit's transaction; refusals come out as SQLAlchemy's."""
        driver = await self.driver()
        with _as_sqlalchemy_errors(statement.sql):
            rows: list[asyncpg.Record] = await driver.fetch(statement.sql, *statement.arguments(values))
        return rows

    async def copy_rows(self, table: str, columns: list[str], records: Iterable[tuple[Any, ...]]) -> None:
        """Write rows (values of `columns`, in order) with PostgreSQL's COPY, in this unit's
        transaction; refusals come out as from any other statement: a broken constraint as
        IntegrityError (a 409), a malformed value as DataError (a 422)."""
        driver = await self.driver()
        with _as_sqlalchemy_errors(f"COPY {table}"):
            await driver.copy_records_to_table(table, records=records, columns=columns)

    def write_with_events(self, insert: DriverStatement, **values: Any) -> None:
        """Insert a row when the events are written (at commit, or `flush_events`), in their
        statement: for a row that nothing in this unit reads back before then. One per unit."""
        if self._written_with_events is not None:
            raise RuntimeError("one row is written with a unit's events")
        self._written_with_events = (insert, values)

    async def flush_events(self) -> None:
        """Write pending events as outbox rows (inside the open transaction): one INSERT of arrays,
        or for many (a bulk import's event per row) COPY. Envelopes go as JSON text, serialised by
        pydantic, never through the standard library's encoder. The row to write with them, if
        any, goes in the same statement."""
        written, self._written_with_events = self._written_with_events, None
        if written is not None and not 0 < len(self._pending) < COPIED_EVENTS:
            await self.fetch(written[0], **written[1])  # alone: no events to ride with, or theirs go by COPY
            written = None
        if not self._pending:
            return
        rows = [
            (uuid.UUID(env.id), event.topic(), event.aggregate_id, env.type, env.model_dump_json())
            for env, event in self._pending
        ]
        if len(rows) >= COPIED_EVENTS:
            await self.copy_rows(outbox.name, list(OUTBOX_COLUMNS), rows)
        else:
            arrays = dict(zip(OUTBOX_COLUMNS, map(list, zip(*rows, strict=True)), strict=True))
            if written is None:
                await self.fetch(INSERT_OUTBOX, **arrays)
            else:
                await self.fetch(with_events(written[0]), **written[1], **arrays)
        self.envelopes.extend(env for env, _ in self._pending)
        self._pending.clear()

    async def commit(self) -> None:
        await self.flush_events()
        await self.session.commit()
        self._driver = None  # the next statement begins a new transaction, through the session
        if self._on_commit is not None and self.envelopes:
            self._on_commit.ring()


class Database:
    """A service's engine, its session factory, its kind of unit of work, and the bell that a
    commit with events rings: it wakes the outbox relay and whatever else in the process reads
    the outbox (approvals' webhooks and event stream)."""

    def __init__(
        self,
        url: str,
        pool_size: int = 20,
        unit_of_work: type[UnitOfWork] = UnitOfWork,
        search_connections: int = SEARCH_CONNECTIONS,
    ) -> None:
        self._unit_of_work = unit_of_work
        self.engine = create_engine(url, pool_size)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self.new_events = Bell()
        self._search_pool: asyncpg.Pool | None = None
        self._search_connections = search_connections
        self._search_turns = asyncio.Semaphore(search_connections)
        self._searches_lock = asyncio.Lock()

    def unit_of_work(self, actor: str | None, causation_id: str | None = None) -> UnitOfWork:
        return self._unit_of_work(self.sessions, actor=actor, causation_id=causation_id, on_commit=self.new_events)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def search(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """A search: one read straight on the driver (`sql` in its $1 style, compiled once), on a
        small pool of its own, outside any transaction.

        The driver spares SQLAlchemy's connection and result layers, a third of the slot search's
        time. A search is planned once (PostgreSQL's generic plan of the prepared statement): planning
        the slot search costs twice running it (0.7 against 0.3 ms), so a search's SQL must be one
        whose plan does not depend on the values (the slot search's: `services/scheduling/queries.py`)."""
        pool = self._search_pool or await self._open_search_pool()
        with _as_sqlalchemy_errors(sql):
            async with self._search_turns, pool.acquire() as connection:
                try:
                    rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
                except (asyncpg.DataError, asyncpg.InterfaceError) as exc:
                    if bad_value(exc):  # the server may wait mid-statement (`_discard_half_sent`)
                        connection.terminate()
                    raise
        return rows

    async def _open_search_pool(self) -> asyncpg.Pool:
        async with self._searches_lock:
            if self._search_pool is None:
                with _as_sqlalchemy_errors("connect"):
                    self._search_pool = await asyncpg.create_pool(
                        driver_dsn(self.engine.url),
                        min_size=1,
                        max_size=self._search_connections,
                        reset=_after_search,
                        server_settings={
                            "plan_cache_mode": "force_generic_plan",
                            # What a search reads is in memory, where a page read at random costs
                            # about what one read in order does (the default, 4, prices a disk's
                            # seek): the slot search then joins its page to 51 suites by key, not
                            # by reading all 5,000 (its PostgreSQL time 0.87 → 0.67 ms).
                            "random_page_cost": "1.1",
                        },
                    )
            return self._search_pool

    async def dispose(self) -> None:
        if self._search_pool is not None:
            await self._search_pool.close()
        await self.engine.dispose()


async def _after_search(connection: asyncpg.Connection) -> None:
    """A search connection back in its pool: a search is one statement outside a transaction and
    sets nothing, so the driver's own reset (a round trip resetting settings, locks, cursors and
    listeners) is skipped; a transaction left by a cancelled call is rolled back."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


Row = TypeVar("Row")


async def get_or_404(session: AsyncSession, model: type[Row], key: object, what: str, *, lock: bool = False) -> Row:
    """The `model` row with primary key `key` (locked FOR UPDATE if asked), or NotFound: "No <what> <key>."."""
    row = await session.get(model, key, with_for_update=lock)
    if row is None:
        raise NotFound(f"No {what} {key}.")
    return row


async def mark_published(session: AsyncSession, seqs: list[int]) -> None:
    await session.execute(sa.update(outbox).where(outbox.c.seq.in_(seqs)).values(published_at=sa.func.now()))


async def event_history(session: AsyncSession, *keys: str, limit: int = 500) -> list[dict[str, Any]]:
    """The envelopes emitted for one aggregate (or a few together), oldest first: its audit trail
    (who, when, what), written in the same transactions as the changes themselves and never deleted."""
    result = await session.execute(
        sa.select(outbox.c.envelope).where(outbox.c.key.in_(keys)).order_by(outbox.c.seq).limit(limit)
    )
    return [row.envelope for row in result]

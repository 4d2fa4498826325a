"""The hold path inside one process: `POST /v1/bookings` through the scheduling app (routing,
token, validation, the use case, SQL, the answer) on a throw-away embedded PostgreSQL, without
uvicorn, the broker or any other service. Prints the CPU per hold of this process and of
PostgreSQL (server and backends), and the statements per hold, which other load on the machine
moves little, beside holds per second, which it moves a lot. Run: `python -m benchmarks.scheduling.bench_hold [holds] [clients]`."""

import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import psutil
import sqlalchemy as sa

from benchmarks.throwaway import service_database
from services.scheduling.main import spec
from shared.auth import Role, issue_token
from shared.database import Database
from shared.service import ServiceContext, create_app
from shared.settings import get_settings

SEED = """
INSERT INTO facility_view (facility_id, version, legal_name, country, active, updated_at)
VALUES (:facility, 1, 'Bench GMP unit', 'DE', true, now());
INSERT INTO suite_view (suite_id, facility_id, version, name, cleanroom_grade, atmp_types, processes, retired, updated_at)
VALUES (:suite, :facility, 1, 'Suite B', 'B', ARRAY['gene_therapy'], ARRAY['car_t'], false, now());
INSERT INTO certificate_view (certificate_id, facility_id, version, number, authority, status, expires_on, updated_at)
VALUES (gen_random_uuid(), :facility, 1, 'DE-GMP-1', 'DE-PEI', 'valid', :expires, now());
INSERT INTO slot (id, suite_id, facility_id, starts_at, ends_at, status, version, created_at, created_by, updated_at,
                  updated_by)
SELECT gen_random_uuid(), :suite, :facility, CAST(:first AS timestamptz) + n * interval '1 hour',
       CAST(:first AS timestamptz) + (n + 1) * interval '1 hour',
       'open', 1, now(), 'bench', now(), 'bench'
FROM generate_series(0, :slots - 1) n
"""


def postgres_cpu_seconds(url: str) -> dict[int, float]:
    """CPU so far of the PostgreSQL server listening on `url`'s port and of each of its backends."""
    port = str(sa.make_url(url).port)
    [server] = [p for p in psutil.process_iter(["name", "cmdline"])
                if p.info["name"] == "postgres" and port in (p.info["cmdline"] or [])]  # fmt: skip
    seconds = {}
    for process in (server, *server.children()):
        with contextlib.suppress(psutil.NoSuchProcess):
            t = process.cpu_times()
            seconds[process.pid] = t.user + t.system
    return seconds


class RoundTrips:
    """Statements sent, and transactions begun (each adds its BEGIN and COMMIT, and a pre-ping
    its own three when the engine pings)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements = self.transactions = 0
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "begin", self._begin)

    def _statement(self, *_: object) -> None:
        self.statements += 1

    def _begin(self, *_: object) -> None:
        self.transactions += 1


async def run(url: str, holds: int, clients: int) -> None:
    os.environ["GMPHUB_DATA_DIR"] = tempfile.mkdtemp()  # its own development keys, for signing and verifying
    # One token holding as fast as it can: rate limits counted, never reached.
    os.environ["GMPHUB_RATE_LIMIT_PER_PRINCIPAL"] = os.environ["GMPHUB_RATE_LIMIT_BOOKINGS"] = "100000000/minute"
    settings = get_settings()
    db = Database(url, pool_size=clients, unit_of_work=spec.unit_of_work)
    facility, suite = uuid.uuid4(), uuid.uuid4()
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=7)
    async with db.engine.begin() as conn:
        for statement in SEED.split(";\n"):
            await conn.execute(
                sa.text(statement),
                {
                    "facility": facility,
                    "suite": suite,
                    "first": first,
                    "slots": holds,
                    "expires": date.today() + timedelta(days=700),
                },  # fmt: skip
            )
        slot_ids = [str(i) for i in (await conn.scalars(sa.text("SELECT id FROM slot ORDER BY starts_at")))]
    app = create_app(spec, settings)
    app.state.context = ServiceContext("scheduling", spec.settings(**settings.model_dump()), db, None)  # type: ignore[arg-type]
    token = issue_token(settings, role=Role.DEVELOPER, org_id="ORG-BENCH")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://scheduling",
        headers={"Authorization": f"Bearer {token}"},
    )
    body = {"product": "CAR-T CD19 autologous", "run_kind": "development"}
    for slot_id in slot_ids[:50]:  # warm up: first compilations, the pool's connections
        answer = await client.post("/v1/bookings", json=body | {"slot_ids": [slot_id]})
        assert answer.status_code == 201, answer.text
    pending = iter(slot_ids[50:])
    trips = RoundTrips(db.engine.sync_engine)

    async def holder() -> None:
        for slot_id in pending:
            answer = await client.post("/v1/bookings", json=body | {"slot_ids": [slot_id]})
            assert answer.status_code == 201, answer.text

    cpu, pg, started = time.process_time(), postgres_cpu_seconds(url), time.perf_counter()
    await asyncio.gather(*(holder() for _ in range(clients)))
    cpu, seconds, done = time.process_time() - cpu, time.perf_counter() - started, len(slot_ids) - 50
    pg_cpu = sum(after - pg.get(pid, 0.0) for pid, after in postgres_cpu_seconds(url).items())
    print(f"{done} holds from {clients} clients: CPU ms per hold {cpu * 1000 / done:.2f} in this process, "
          f"{pg_cpu * 1000 / done:.2f} in PostgreSQL; {trips.statements / done:.1f} statements and "
          f"{trips.transactions / done:.1f} transactions per hold; {done / seconds:.0f} holds/s")  # fmt: skip
    await client.aclose()
    await db.dispose()


def main() -> None:
    holds = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    with service_database("scheduling") as url:
        asyncio.run(run(url, holds + 50, clients))


if __name__ == "__main__":
    main()

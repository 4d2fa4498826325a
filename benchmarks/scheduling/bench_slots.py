"""Slot search on 100,000 slots: seeds a throw-away embedded PostgreSQL through the scheduling
migrations, then times `GET /v1/slots`'s query (the same read the API answers with) for typical
filters, first and deep pages. Run: `python -m benchmarks.scheduling.bench_slots [slots]`."""

import asyncio
import hashlib
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from benchmarks.throwaway import service_database
from services.scheduling import queries
from services.scheduling.domain import SlotFilters
from shared.database import Database

FACILITIES, SUITES_PER_FACILITY = 50, 4
COUNTRIES = ["DE", "FR", "NL", "IT", "ES", "BE", "AT", "SE", "DK", "PL"]
GRADES = ["A", "B", "C", "D"]
ATMP = ["gene_therapy", "somatic_cell_therapy", "tissue_engineered", "combined"]
PROCESSES = ["viral_vector_production", "cell_expansion", "fill_finish", "cryopreservation", "gene_editing"]

SEED = """
INSERT INTO facility_view (facility_id, version, legal_name, country, active, updated_at)
SELECT md5('f' || i)::uuid, 1, 'Facility ' || i, (ARRAY{countries})[1 + i % 10], true, now()
FROM generate_series(1, {facilities}) i;
INSERT INTO certificate_view (certificate_id, facility_id, version, number, authority, status, expires_on, updated_at)
SELECT md5('c' || i)::uuid, md5('f' || i)::uuid, 1, 'GMP-' || i, 'DE-PEI',
       CASE WHEN i % 10 = 0 THEN 'suspended' ELSE 'valid' END, current_date + 365, now()
FROM generate_series(1, {facilities}) i;
INSERT INTO suite_view (suite_id, facility_id, version, name, cleanroom_grade, atmp_types, processes, retired, updated_at)
SELECT md5('s' || s)::uuid, md5('f' || (1 + s % {facilities}))::uuid, 1, 'Suite ' || s, (ARRAY{grades})[1 + s % 4],
       ARRAY[(ARRAY{atmp})[1 + s % 4]], ARRAY[(ARRAY{processes})[1 + s % 5], (ARRAY{processes})[1 + (s + 2) % 5]],
       false, now()
FROM generate_series(1, {suites}) s;
INSERT INTO slot (id, suite_id, facility_id, starts_at, ends_at, status, version, created_at, created_by, updated_at, updated_by)
SELECT gen_random_uuid(), sv.suite_id, sv.facility_id,
       date_trunc('day', now()) + interval '1 day' + n * interval '6 hours',
       date_trunc('day', now()) + interval '1 day' + n * interval '6 hours' + interval '5 hours',
       CASE WHEN n % 7 = 0 THEN 'booked' WHEN n % 11 = 0 THEN 'held' ELSE 'open' END, 1, now(), 'bench', now(), 'bench'
FROM suite_view sv, generate_series(0, {per_suite} - 1) n;
ANALYZE;
"""


def literal(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


async def run(url: str, total: int) -> None:
    if True:
        db = Database(url)
        suites = FACILITIES * SUITES_PER_FACILITY
        started = time.monotonic()
        async with db.engine.begin() as conn:
            for statement in SEED.format(
                countries=literal(COUNTRIES), grades=literal(GRADES), atmp=literal(ATMP),
                processes=literal(PROCESSES), facilities=FACILITIES, suites=suites, per_suite=total // suites,
            ).split(";\n"):  # fmt: skip
                if statement.strip():
                    await conn.execute(sa.text(statement))
            count = await conn.scalar(sa.text("SELECT count(*) FROM slot"))
        print(
            f"seeded {count} slots on {suites} suites of {FACILITIES} facilities in {time.monotonic() - started:.1f}s"
        )
        now = datetime.now(UTC)
        cases = {
            "no filter": SlotFilters(starts_from=now),
            "country": SlotFilters(starts_from=now, country="FR"),
            "atmp type + grade": SlotFilters(starts_from=now, atmp_type="gene_therapy", cleanroom_grade="A"),
            "process + date range": SlotFilters(
                starts_from=now + timedelta(days=60), ends_before=now + timedelta(days=90), process="gene_editing"
            ),
            "one facility": SlotFilters(starts_from=now, facility_id=uuid.UUID(hashlib.md5(b"f7").hexdigest())),
            "no match (worst case): 4 filters": SlotFilters(
                starts_from=now, country="SE", atmp_type="combined", cleanroom_grade="D", process="fill_finish"
            ),
        }
        print(f"{'query':<42} {'rows':>5} {'median ms':>10} {'p95 ms':>8}")

        async def search(filters: SlotFilters, after: str | None) -> tuple[list, str | None]:
            return await queries.search_slots(db, filters, after=after, limit=50)

        for name, filters in cases.items():
            for page_name, after_pages in (("", 0), (" (page 20)", 20)):
                cursor, timings, rows = None, [], []
                for _ in range(after_pages):  # walk to a deep page with the keyset cursor
                    rows, next_cursor = await search(filters, cursor)
                    if next_cursor is None:
                        break
                    cursor = next_cursor
                for _ in range(30):
                    t = time.perf_counter()
                    rows, _ = await search(filters, cursor)
                    timings.append((time.perf_counter() - t) * 1000)
                timings.sort()
                print(f"{name + page_name:<42} {len(rows):>5} {statistics.median(timings):>10.2f} {timings[28]:>8.2f}")
        await db.dispose()


def main() -> None:
    with service_database("scheduling") as url:
        asyncio.run(run(url, int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))


if __name__ == "__main__":
    main()

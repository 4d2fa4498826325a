"""The CSV import of 100,000 materials against PostgreSQL's own COPY of the same rows (R10): seeds a
throw-away embedded PostgreSQL through the materials migrations, then, in each round, times the
import use case as the API runs it (parse and validate every row, write the materials and one
outbox event each, commit), reads back the rows it wrote, empties the tables and times a raw COPY
of exactly those rows (commit included). Run: `python -m benchmarks.materials.bench_import [rows] [rounds]`."""

import asyncio
import csv
import io
import random
import statistics
import sys
import time

import asyncpg

from benchmarks.materials.make_csv import row
from benchmarks.throwaway import service_database
from services.materials import catalogue, importing
from services.materials.domain import QualificationStatus
from services.materials.repository import MaterialsUnitOfWork
from shared.database import Database

SUPPLIER = "Miltenyi Biotec"
ACTOR = "admin:bench"


def catalogue_csv(rows: int) -> str:
    rng = random.Random(1043)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=importing.COLUMNS)
    writer.writeheader()
    for i in range(rows):
        writer.writerow(row(i, SUPPLIER, rng))
    return out.getvalue()


async def imported(db: Database, text: str) -> tuple[float, int]:
    """Seconds the import takes, commit included, and the materials it wrote."""
    started = time.perf_counter()
    async with db.unit_of_work(ACTOR) as uow:
        report = await importing.import_csv(uow, text)
        await uow.commit()
    assert not report.rejected, report.rejected[:3]
    return time.perf_counter() - started, report.imported


async def copied(conn: asyncpg.Connection, columns: list[str], records: list[tuple]) -> float:
    """Seconds a raw COPY of `records` into material takes, commit included."""
    started = time.perf_counter()
    async with conn.transaction():
        await conn.copy_records_to_table("material", records=records, columns=columns)
    return time.perf_counter() - started


async def run(url: str, rows: int, rounds: int) -> None:
    db = Database(url, unit_of_work=MaterialsUnitOfWork)
    async with db.unit_of_work(ACTOR) as uow:
        await catalogue.register_supplier(uow, SUPPLIER, "DE", QualificationStatus.QUALIFIED, None)
        await uow.commit()
    text = catalogue_csv(rows)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    # every column but the generated search_vector
    columns = [
        name
        for (name,) in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'material'::regclass AND attnum > 0 "
            "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
        )
    ]
    vocabulary = await conn.fetchval("SELECT to_regclass('material_word') IS NOT NULL")  # from 690d2fd03982 on
    empty = f"TRUNCATE material, outbox{', material_word' if vocabulary else ''} CASCADE"
    timings: dict[str, list[float]] = {"import": [], "copy": [], "ratio": []}
    print(f"{rows:,} rows, {len(text) / 1e6:.1f} MB of CSV; {rounds} rounds, each the import then the COPY")
    for _ in range(rounds):
        seconds, count = await imported(db, text)
        assert count == rows
        records = [tuple(r) for r in await conn.fetch(f"SELECT {', '.join(columns)} FROM material")]
        await conn.execute(empty)
        await conn.execute("CHECKPOINT")
        timings["import"].append(seconds)
        timings["copy"].append(await copied(conn, columns, records))
        timings["ratio"].append(timings["copy"][-1] / seconds)  # rows/s of the import over the COPY's
        await conn.execute(empty)
        await conn.execute("CHECKPOINT")
        print(
            f"  import {seconds:6.2f}s  copy {timings['copy'][-1]:6.2f}s  ratio {timings['ratio'][-1]:.2f}", flush=True
        )
    print(f"{'write':<8} {'median s':>9} {'rows/s':>9}")
    for name in ("import", "copy"):
        median = statistics.median(timings[name])
        print(f"{name:<8} {median:>9.2f} {rows / median:>9,.0f}")
    print(
        f"import / COPY rows per second, median of the rounds: {statistics.median(timings['ratio']):.2f} (target >= 0.3)"
    )
    await conn.close()
    await db.dispose()


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with service_database("materials") as url:
        asyncio.run(run(url, rows, rounds))


if __name__ == "__main__":
    main()

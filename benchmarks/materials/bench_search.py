"""Catalogue search on 100,000 materials (R9): seeds a throw-away embedded PostgreSQL through the
materials migrations and the CSV import use case (benchmarks/materials/make_csv.py's rows, each
with a made-up product name as one more synonym, so that the catalogue has some 90,000 distinct
words, as a large real one might), then times `GET /v1/materials?q=`'s query
(queries.search_materials: the first page of 20 and the total) for words with typos, plain words,
catalogue-number fragments and one word in a fifth of the catalogue: each alone, then all of them
in turn from 16 connections back to back, with the CPU PostgreSQL and this client spent per search.
Run: `python -m benchmarks.materials.bench_search [materials] [seconds under load] [runs alone]`."""

import asyncio
import csv
import io
import itertools
import math
import random
import sys
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

from benchmarks.materials.bench_import import ACTOR, SUPPLIER
from benchmarks.materials.make_csv import row
from benchmarks.throwaway import service_database
from services.materials import catalogue, importing, queries
from services.materials.domain import QualificationStatus
from services.materials.repository import MaterialsUnitOfWork
from shared.database import Database

CONNECTIONS = 16
PAGE = 20
SEARCHES = {  # what a developer types, by kind
    "typo": ["texmacs medum", "dynabaeds", "lentibost reagnt", "cryostr bag", "gahurru"],
    "plain": ["benzonase enzyme", "prime-xv il-7", "product 4242"],
    "fragment": ["m-004242", "04242"],
    "broad": ["medium"],
}


SYLLABLES = [consonant + vowel for consonant in "bcdfghklmnprstvxz" for vowel in "aeiou"]


def catalogue_csv(materials: int) -> str:
    rng = random.Random(1043)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=importing.COLUMNS)
    writer.writeheader()
    for i in range(materials):
        values = row(i, SUPPLIER, rng)
        made_up = "".join(rng.choice(SYLLABLES) for _ in range(3))
        writer.writerow(values | {"synonyms": f"{values['synonyms']};{made_up}"})
    return out.getvalue()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


async def seed(db: Database, materials: int) -> None:
    started = time.monotonic()
    async with db.unit_of_work(ACTOR) as uow:
        await catalogue.register_supplier(uow, SUPPLIER, "DE", QualificationStatus.QUALIFIED, None)
        await uow.commit()
    async with db.unit_of_work(ACTOR) as uow:
        report = await importing.import_csv(uow, catalogue_csv(materials))
        await uow.commit()
    # What autovacuum does soon after a bulk write: statistics, and the GIN indexes' pending
    # entries merged (until then every search scans them).
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("VACUUM ANALYZE"))
    print(f"seeded {report.imported:,} materials through the import in {time.monotonic() - started:.1f}s", flush=True)


async def search(db: Database, text: str) -> tuple[float, int]:
    """Milliseconds one search takes (its own unit of work, as the API runs it) and its total."""
    started = time.perf_counter()
    async with db.unit_of_work(None) as uow:
        _, total = await queries.search_materials(uow, text, queries.MaterialFilters(), PAGE, 0)
    return (time.perf_counter() - started) * 1000, total


async def alone(db: Database, runs: int) -> None:
    print(f"\nalone ({runs} runs each)\n{'kind':<9} {'query':<18} {'total':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, texts in SEARCHES.items():
        for text in texts:
            await search(db, text)  # warm the plan and the pool
            timings, total = [], 0
            for _ in range(runs):
                ms, total = await search(db, text)
                timings.append(ms)
            print(f"{kind:<9} {text:<18} {total:>7} {percentile(timings, 50):>8.1f} {percentile(timings, 99):>8.1f}")


async def loaded(db: Database, seconds: float) -> None:
    everything = [(kind, text) for kind, texts in SEARCHES.items() for text in texts]
    turns = itertools.cycle(everything)
    timings: dict[str, list[float]] = {kind: [] for kind in SEARCHES}
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            kind, text = next(turns)
            timings[kind].append((await search(db, text))[0])

    server = await postgres(db)
    started, cpu, server_cpu = time.perf_counter(), time.process_time(), cpu_seconds(server)
    await asyncio.gather(*(client() for _ in range(CONNECTIONS)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_cpu = cpu_seconds(server) - server_cpu
    every = [ms for values in timings.values() for ms in values]
    print(f"\n{CONNECTIONS} connections for {elapsed:.0f}s, the queries in turn")
    print(f"{'kind':<9} {'searches':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, values in [*timings.items(), ("all", every)]:
        if values:
            print(f"{kind:<9} {len(values):>8} {percentile(values, 50):>8.1f} {percentile(values, 99):>8.1f}")
    print(f"throughput {len(every) / elapsed:.1f} searches/s; CPU per search: PostgreSQL "
          f"{server_cpu / len(every) * 1000:.1f} ms, this client {cpu / len(every) * 1000:.1f} ms")  # fmt: skip


async def postgres(db: Database) -> psutil.Process:
    """The PostgreSQL server's main process (its children are the backends)."""
    async with db.engine.connect() as conn:
        data = await conn.scalar(sa.text("SHOW data_directory"))
    return psutil.Process(int((Path(data) / "postmaster.pid").read_text().split()[0]))


def cpu_seconds(server: psutil.Process) -> float:
    """User and system CPU seconds of the server and its processes now alive (the pool's backends)."""
    times = [p.cpu_times() for p in (server, *server.children())]
    return sum(t.user + t.system for t in times)


async def run(url: str, materials: int, seconds: float, runs: int) -> None:
    db = Database(url, pool_size=CONNECTIONS, unit_of_work=MaterialsUnitOfWork)
    await seed(db, materials)
    await alone(db, runs)
    await loaded(db, seconds)
    await db.dispose()


def main() -> None:
    args = [float(a) for a in sys.argv[1:]]
    materials, seconds, runs = (args + [100_000, 20, 20][len(args) :])[:3]
    with service_database("materials") as url:
        asyncio.run(run(url, int(materials), seconds, int(runs)))


if __name__ == "__main__":
    main()

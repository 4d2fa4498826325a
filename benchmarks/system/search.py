"""The slot search, `GET /v1/slots`, under 32 connections on a large catalogue of slots (R7).

The slots are published through the capacity API, as facilities publish them: 50 certified
facilities in ten countries with four suites each, every suite cut into 5-hour slots six hours
apart, at most 5,000 per request, four requests at a time."""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from benchmarks.system import fixtures
from benchmarks.system.context import Context
from benchmarks.system.http import Api, Connection
from benchmarks.system.load import closed_loop, percentile

FACILITIES, SUITES_EACH, PUBLISHERS, CLIENTS = 50, 4, 4, 32


@dataclass(frozen=True)
class Catalogue:
    facility_id: str  # one of the facilities, for the search by facility
    open_slots: int  # every open slot in scheduling, the holds' leftovers included


async def seed(ctx: Context) -> Catalogue:
    started = time.monotonic()
    suites = await fixtures.certified_suites(ctx.registry, ctx.db["scheduling"], FACILITIES, SUITES_EACH, "Search")
    per_suite = ctx.options.slots // len(suites)
    queue = list(suites)

    async def publisher() -> None:
        api = Api(ctx.hub.url("scheduling"), ctx.admin_token, ctx.statuses)
        while queue:
            await queue.pop().publish(api, per_suite, minutes=300, gap=60)
        await api.close()

    await asyncio.gather(*(publisher() for _ in range(PUBLISHERS)))
    print(f"published {per_suite * len(suites):,} slots on {len(suites)} suites through the capacity API "
          f"in {time.monotonic() - started:.0f}s", flush=True)  # fmt: skip
    open_slots = await ctx.db["scheduling"].fetchval("SELECT count(*) FROM slot WHERE status = 'open'")
    return Catalogue(suites[0].facility_id, open_slots)


SEARCHES = ("all", "country", "type+grade", "process+dates", "facility")  # typical_queries' order


def typical_queries(facility_id: str) -> list[str]:
    """What developers ask: everything, a country, a product type in a grade, a process in a date range, a site."""
    now = datetime.now(UTC)
    return [
        "/v1/slots?" + urlencode(q)
        for q in (
            {},
            {"country": "FR"},
            {"atmp_type": "gene_therapy", "cleanroom_grade": "A"},
            {"process": "fill_finish", "starts_from": (now + timedelta(days=60)).isoformat(),
             "ends_before": (now + timedelta(days=90)).isoformat()},
            {"facility_id": facility_id},
        )
    ]  # fmt: skip


async def measure(ctx: Context, catalogue: Catalogue) -> tuple[float, float, float, dict[str, float]]:
    """p50 ms, p99 ms and requests per second of typical searches from 32 connections, and the CPU
    ms per search of each of the hub's processes."""
    queries = typical_queries(catalogue.facility_id)
    latencies: list[float] = []
    by_search: list[list[float]] = [[] for _ in queries]  # which search makes the tail

    async def search(conn: Connection) -> bool:
        which = len(latencies) % len(queries)
        started = time.perf_counter()
        answer = await conn.request("GET", queries[which])
        latencies.append((time.perf_counter() - started) * 1000)
        by_search[which].append(latencies[-1])
        ctx.checks.expect("R7 search", answer.status, 200)
        return True

    before = ctx.hub.cpu_seconds()
    seconds = await closed_loop(ctx.developer, CLIENTS, ctx.options.seconds, search)
    after, searches = ctx.hub.cpu_seconds(), max(len(latencies), 1)
    cpu = {name: (after[name] - before.get(name, 0.0)) * 1000 / searches for name in after}
    print("   R7 p50/p99 ms by search: " + ", ".join(
        f"{name} {percentile(ms, 50):.0f}/{percentile(ms, 99):.0f}" for name, ms in zip(SEARCHES, by_search, strict=True) if ms
    ), flush=True)  # fmt: skip
    return percentile(latencies, 50), percentile(latencies, 99), len(latencies) / seconds, cpu

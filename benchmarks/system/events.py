"""Registry's events reaching scheduling's read models: a burst drained (R4) and single changes
timed one at a time (R6). What scheduling shows is read from its database.

For the burst, the events are first held in registry's outbox: the benchmark takes the advisory
lock registry's relay takes before each batch (only one relay per database publishes), creates the
suites, lets go and times the relay, the broker and scheduling's consumer working through them
all. Without that gate the figure would be registry's API, not the event path."""

import asyncio
import time

import asyncpg

from benchmarks.system import fixtures
from benchmarks.system.context import Context

RELAY_LOCK = "SELECT pg_advisory_xact_lock(hashtext('gmphub-outbox-relay'))"  # shared/outbox.py's RELAY_LOCK
BURST_FACILITIES = 16
SUITE_ADDED = "gmphub.registry.suite.added.v1"
FACILITY_UPDATED = "gmphub.registry.facility.updated.v1"


async def _known(
    scheduling_db: asyncpg.Connection, query: str, *args: object, expect: int, every: float = 0.001
) -> float:
    """Poll scheduling's database `every` seconds until `query` gives `expect`; return when (perf_counter)."""
    while await scheduling_db.fetchval(query, *args) < expect:
        await asyncio.sleep(every)
    return time.perf_counter()


async def _facilities(ctx: Context, count: int, name: str) -> list[str]:
    ids = [await fixtures.facility(ctx.registry, f"{name} {i}", "DE") for i in range(count)]
    await _known(ctx.db["scheduling"], "SELECT count(*) FROM facility_view WHERE facility_id = ANY($1::uuid[])", ids,
                 expect=len(ids))  # fmt: skip
    return ids


async def burst(ctx: Context, run: int) -> float:
    """Events per second from registry's outbox into scheduling's suite_view, for a burst of suites."""
    facilities = await _facilities(ctx, BURST_FACILITIES, f"Burst {run}")
    per_facility = ctx.options.events // BURST_FACILITIES
    gate = await asyncpg.connect(ctx.hub.dsn("registry"))
    try:
        transaction = gate.transaction()
        await transaction.start()
        await gate.execute(RELAY_LOCK)

        async def add_suites(facility_id: str) -> None:
            conn = await ctx.registry.connect()
            for i in range(per_facility):
                body = fixtures.suite_spec(i)
                answer = await conn.request("POST", f"/v1/facilities/{facility_id}/suites", body)
                ctx.checks.expect("R4 add suite", answer.status, 201)
            await conn.close()

        await asyncio.gather(*(add_suites(f) for f in facilities))
        held = await ctx.db["registry"].fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND type = $1", SUITE_ADDED
        )
        if held != per_facility * BURST_FACILITIES:
            raise RuntimeError("registry's relay published through the gate: its lock is no longer RELAY_LOCK")
        started = time.perf_counter()
        await transaction.commit()
    finally:
        await gate.close()
    # One more change commits now: its commit wakes the relay at once, as any commit does.
    await fixtures.suite(ctx.registry, facilities[0], per_facility)
    events = per_facility * BURST_FACILITIES + 1
    # Every 10 ms, not every one: counting 1,600 rows a thousand times a second took a good part of
    # a core from the hub it measures; the burst lasts half a second or more, so it reads ≤ 2 % low.
    done = await _known(ctx.db["scheduling"], "SELECT count(*) FROM suite_view WHERE facility_id = ANY($1::uuid[])",
                        facilities, expect=events, every=0.01)  # fmt: skip
    return events / (done - started)


async def hops(ctx: Context, run: int) -> list[float]:
    """Ms from registry answering a facility change to scheduling's facility_view showing it, one at a time."""
    [facility_id] = await _facilities(ctx, 1, f"Hops {run}")
    conn = await ctx.registry.connect()
    query = "SELECT count(*) FROM facility_view WHERE facility_id = $1 AND version >= $2"
    latencies = []
    try:
        for i in range(ctx.options.hops):
            path, change = f"/v1/facilities/{facility_id}", {"city": f"Hop {i}"}
            answer = await conn.request("PATCH", path, change, headers={"If-Match": "*"})
            answered = time.perf_counter()
            if ctx.checks.expect("R6 change facility", answer.status, 200):
                seen = await _known(ctx.db["scheduling"], query, facility_id, answer.json()["version"], expect=1)
                latencies.append((seen - answered) * 1000)
    finally:
        await conn.close()
    return latencies


async def sample_envelope(registry_db: asyncpg.Connection, kind: str) -> bytes:
    """The latest envelope of this type in registry's outbox: what the raw broker runs carry instead."""
    return (
        await registry_db.fetchval("SELECT envelope::text FROM outbox WHERE type = $1 ORDER BY seq DESC", kind)
    ).encode()

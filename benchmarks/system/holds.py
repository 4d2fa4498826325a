"""Holds through `POST /v1/bookings`, as developers send them: spread over distinct open slots
(R1, and the CPU they cost for R8), 64 clients racing for one slot at a time (R3), and paced at
100 per second to time them against `/healthz` (R5)."""

import asyncio
import time
from dataclasses import dataclass

from benchmarks.system.context import Context
from benchmarks.system.http import Connection
from benchmarks.system.load import close_all, closed_loop, connections, paced, percentile

SPREAD_CLIENTS, RACERS, PACED_CLIENTS, PACED_RATE = 32, 64, 16, 100.0
MAX_HOLDS_PER_SECOND = 800  # slots published per second of load; a load that runs out stops early
MAX_RACES_PER_SECOND = 40


def hold_body(slot_id: str) -> dict:
    return {"slot_ids": [slot_id], "product": "CAR-T CD19 autologous", "run_kind": "development"}


@dataclass(frozen=True)
class SpreadHolds:
    per_second: float
    cpu_ms_each: dict[str, float]  # by hub process: scheduling, postgres, broker, ...
    client_cpu_ms_each: float  # this process sending them, not counted in the hub's


async def spread(ctx: Context) -> SpreadHolds:
    """32 clients back to back, each hold on its own open slot, for the load's seconds."""
    slots = iter(await ctx.open_slots(int(ctx.options.seconds * MAX_HOLDS_PER_SECOND)))
    held = 0

    async def hold(conn: Connection) -> bool:
        nonlocal held
        slot_id = next(slots, None)
        if slot_id is None:
            return False
        answer = await conn.request("POST", "/v1/bookings", hold_body(slot_id))
        held += ctx.checks.expect("R1 hold", answer.status, 201)
        return True

    await ctx.settled()
    before, client_before = ctx.hub.cpu_seconds(), time.process_time()
    seconds = await closed_loop(ctx.developer, SPREAD_CLIENTS, ctx.options.seconds, hold)
    after, client = ctx.hub.cpu_seconds(), time.process_time() - client_before
    cpu = {name: (after[name] - before.get(name, 0.0)) * 1000 / max(held, 1) for name in after}
    return SpreadHolds(held / seconds, cpu, client * 1000 / max(held, 1))


async def race(ctx: Context) -> float:
    """64 clients send the same hold at once, slot after slot; return requests answered per second."""
    slots = await ctx.open_slots(int(ctx.options.seconds * MAX_RACES_PER_SECOND))
    conns = await connections(ctx.developer, RACERS)
    rounds = 0
    started = time.perf_counter()
    try:
        for slot_id in slots:
            if time.perf_counter() - started > ctx.options.seconds:
                break
            answers = await asyncio.gather(*(c.request("POST", "/v1/bookings", hold_body(slot_id)) for c in conns))
            ctx.checks.race([a.status for a in answers])
            rounds += 1
        return rounds * RACERS / (time.perf_counter() - started)
    finally:
        await close_all(conns)


async def hold_latency(ctx: Context) -> tuple[float, float, float]:
    """p50 and p99 ms of holds due at 100 per second over 16 connections, and the rate answered."""
    slots = await ctx.open_slots(ctx.options.paced_requests)

    async def hold(conn: Connection, i: int) -> None:
        answer = await conn.request("POST", "/v1/bookings", hold_body(slots[i]))
        ctx.checks.expect("R5 hold", answer.status, 201)

    latencies, rate = await paced(ctx.developer, PACED_CLIENTS, PACED_RATE, len(slots), hold)
    return percentile(latencies, 50), percentile(latencies, 99), rate


async def health_latency(ctx: Context) -> tuple[float, float]:
    """p50 and p99 ms of scheduling's `/healthz`, paced the same way."""

    async def health(conn: Connection, i: int) -> None:
        ctx.checks.expect("R5 healthz", (await conn.request("GET", "/healthz")).status, 200)

    latencies, _ = await paced(ctx.health, PACED_CLIENTS, PACED_RATE, ctx.options.paced_requests, health)
    return percentile(latencies, 50), percentile(latencies, 99)

"""Two ways to load a server, and percentiles. Closed loop: N clients each send their next request
as soon as the last is answered (throughput). Paced: requests due at a fixed rate whatever the
server does, each timed from when it was due, so a slow answer is not hidden by the requests it
held back (latency)."""

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence

from benchmarks.system.http import Api, Connection


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (q in 0 … 100)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


async def connections(api: Api, count: int) -> list[Connection]:
    return list(await asyncio.gather(*(api.connect() for _ in range(count))))


async def close_all(conns: Sequence[Connection]) -> None:
    for conn in conns:
        await conn.close()


async def closed_loop(api: Api, clients: int, seconds: float, work: Callable[[Connection], Awaitable[bool]]) -> float:
    """`clients` connections call `work` back to back until `seconds` pass or `work` says there is
    no more to do (returns False). Returns the seconds it ran."""
    conns = await connections(api, clients)
    started = time.perf_counter()
    deadline = started + seconds

    async def client(conn: Connection) -> None:
        while time.perf_counter() < deadline and await work(conn):
            pass

    try:
        await asyncio.gather(*(client(c) for c in conns))
        return time.perf_counter() - started
    finally:
        await close_all(conns)


async def paced(
    api: Api, clients: int, rate: float, count: int, work: Callable[[Connection, int], Awaitable[object]]
) -> tuple[list[float], float]:
    """Call `work(conn, i)` for i in 0 … count-1, the i-th due at i/rate seconds, on whichever of
    `clients` connections is free. Returns each call's latency in ms, measured from when it was due,
    and the rate the server kept up (calls per second until the last was answered)."""
    conns = await connections(api, clients)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in conns:
        idle.put_nowait(conn)
    latencies: list[float] = []
    started = time.perf_counter()

    async def one(conn: Connection, i: int, due: float) -> None:
        await work(conn, i)
        latencies.append((time.perf_counter() - due) * 1000)
        idle.put_nowait(conn)

    tasks = []
    try:
        for i in range(count):
            due = started + i / rate
            await asyncio.sleep(max(due - time.perf_counter(), 0))
            tasks.append(asyncio.create_task(one(await idle.get(), i, due)))
        await asyncio.gather(*tasks)
        return latencies, count / (time.perf_counter() - started)
    finally:
        await close_all(conns)

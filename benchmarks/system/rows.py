"""The table's rows: what each measures on the hub, its ceiling in the same run, the ratio judged
against the goal and the floor. A run takes each measurement once, and only those the chosen rows
need (R3 needs R1's holds, R2 and R8 the hold's pgbench run)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.system import events, holds, kafka, search
from benchmarks.system.context import Context
from benchmarks.system.load import percentile
from benchmarks.system.pgbench import Ceilings, Pgbench

Figures = dict[str, float]


class Run:
    """One run's measurements, each taken the first time a row asks for it."""

    def __init__(self, ctx: Context, ceilings: Ceilings, catalogue: search.Catalogue | None, index: int) -> None:
        self.ctx, self.ceilings, self.catalogue, self.index = ctx, ceilings, catalogue, index
        self._taken: dict[str, Any] = {}

    async def get(self, name: str, measure: Callable[[], Awaitable[Any]]) -> Any:
        if name not in self._taken:
            self._taken[name] = await measure()
        return self._taken[name]

    async def spread(self) -> holds.SpreadHolds:
        return await self.get("spread", lambda: holds.spread(self.ctx))

    async def hold_sql(self) -> Pgbench:
        return await self.get("hold_sql", self.ceilings.hold_sql)


async def r1(run: Run) -> Figures:
    spread, ceiling = await run.spread(), (await run.hold_sql()).tps
    return {"hub": spread.per_second, "ceiling": ceiling, "ratio": spread.per_second / ceiling,
            "client": spread.client_cpu_ms_each}  # fmt: skip


async def r2(run: Run) -> Figures:
    hub, ceiling = (await run.hold_sql()).tps, (await run.ceilings.simple_update()).tps
    return {"hub": hub, "ceiling": ceiling, "ratio": hub / ceiling}


async def r3(run: Run) -> Figures:
    spread = (await run.spread()).per_second
    hub = await holds.race(run.ctx)
    return {"hub": hub, "ceiling": spread, "ratio": hub / spread}


async def r4(run: Run) -> Figures:
    hub = await events.burst(run.ctx, run.index)
    payload = await events.sample_envelope(run.ctx.db["registry"], events.SUITE_ADDED)
    ceiling = await kafka.throughput(run.ctx.hub.bootstrap_servers, payload, run.ctx.options.events)
    return {"hub": hub, "ceiling": ceiling, "ratio": hub / ceiling}


async def r5(run: Run) -> Figures:
    (h50, h99, rate), (c50, c99) = await holds.hold_latency(run.ctx), await holds.health_latency(run.ctx)
    return {"hub_p50": h50, "hub_p99": h99, "hub_rate": rate, "ceiling_p50": c50, "ceiling_p99": c99,
            "ratio": h99 / c99, "ratio_p50": h50 / c50}  # fmt: skip


async def r6(run: Run) -> Figures:
    hub = await events.hops(run.ctx, run.index)
    payload = await events.sample_envelope(run.ctx.db["registry"], events.FACILITY_UPDATED)
    raw = await kafka.round_trips(run.ctx.hub.bootstrap_servers, payload, run.ctx.options.hops)
    h50, h99, c50, c99 = (percentile(v, q) for v in (hub, raw) for q in (50, 99))
    return {"hub_p50": h50, "hub_p99": h99, "ceiling_p50": c50, "ceiling_p99": c99,
            "ratio": max(h50 / c50, h99 / c99), "ratio_p50": h50 / c50, "ratio_p99": h99 / c99}  # fmt: skip


async def r7(run: Run) -> Figures:
    assert run.catalogue is not None
    p50, p99, rate, cpu = await search.measure(run.ctx, run.catalogue)
    return {"hub_p50": p50, "hub_p99": p99, "hub_rate": rate, "ratio": p99, "slots": run.catalogue.open_slots,
            "hub": sum(cpu.values())} | {f"cpu {k}": v for k, v in cpu.items()}  # fmt: skip


async def r8(run: Run) -> Figures:
    by_process, ceiling = (await run.spread()).cpu_ms_each, (await run.hold_sql()).cpu_ms_each
    hub = sum(by_process.values())
    return {"hub": hub, "ceiling": ceiling, "ratio": hub / ceiling} | {f"cpu {k}": v for k, v in by_process.items()}


def _cpu(f: Figures) -> str:
    """The total, then the processes that took a tenth of it or more."""
    parts = sorted(((v, k.removeprefix("cpu ")) for k, v in f.items() if k.startswith("cpu ")), reverse=True)
    return f"{f['hub']:.2f} ms: " + ", ".join(f"{name} {v:.2f}" for v, name in parts if v >= f["hub"] / 10)


def _x(ratio: float) -> str:
    """Three significant digits, so that a ratio a hair below a bound does not print as the bound."""
    return f"{ratio:.3g}" if ratio < 100 else f"{ratio:.0f}"


def _ms(f: Figures, side: str) -> str:
    return f"p50 {f[side + '_p50']:.1f} ms, p99 {f[side + '_p99']:.1f} ms"


@dataclass(frozen=True)
class Row:
    key: str
    what: str
    measure: Callable[[Run], Awaitable[Figures]]
    hub: Callable[[Figures], str]
    ceiling: Callable[[Figures], str]
    ratio: Callable[[Figures], str]
    goal: float
    floor: float
    at_most: bool  # the ratio is good when small (latency, CPU) rather than large (throughput)
    judged: str = "ratio"  # the figure goal and floor bound: the ratio, or the hub's own (R8's CPU ms per hold)

    def bounds(self) -> tuple[str, str]:
        sign, unit = ("≤ ", "×") if self.at_most else ("≥ ", "")
        if self.key == "R7":
            return f"p99 ≤ {self.goal:g} ms", f"p99 ≤ {self.floor:g} ms"
        if self.judged == "hub":
            unit = " ms"
        return f"{sign}{self.goal:g}{unit}", f"{sign}{self.floor:g}{unit}"

    def verdict(self, ratio: float) -> str:
        def met(bound: float) -> bool:
            return ratio <= bound if self.at_most else ratio >= bound

        return "goal met" if met(self.goal) else "floor met" if met(self.floor) else "BELOW FLOOR"


ROWS = [
    Row("R1", "holds/s, 32 clients on distinct slots ÷ the hold's SQL in pgbench -c 32", r1,
        hub=lambda f: f"{f['hub']:.0f} holds/s (client CPU {f['client']:.2f} ms each)",
        ceiling=lambda f: f"{f['ceiling']:.0f} tps", ratio=lambda f: _x(f["ratio"]), goal=0.35, floor=0.15,
        at_most=False),
    Row("R2", "the hold's SQL in pgbench ÷ pgbench -N (simple update)", r2,
        hub=lambda f: f"{f['hub']:.0f} tps", ceiling=lambda f: f"{f['ceiling']:.0f} tps",
        ratio=lambda f: _x(f["ratio"]), goal=0.7, floor=0.5, at_most=False),
    Row("R3", "64 clients racing per slot, req/s ÷ R1's holds/s", r3,
        hub=lambda f: f"{f['hub']:.0f} req/s", ceiling=lambda f: f"{f['ceiling']:.0f} holds/s",
        ratio=lambda f: _x(f["ratio"]), goal=1, floor=0.3, at_most=False),
    Row("R4", "events/s, registry's outbox → scheduling's read model ÷ raw aiokafka", r4,
        hub=lambda f: f"{f['hub']:.0f} events/s", ceiling=lambda f: f"{f['ceiling']:.0f} msgs/s",
        ratio=lambda f: _x(f["ratio"]), goal=0.3, floor=0.1, at_most=False),
    Row("R5", "hold latency, 16 conns at 100 req/s ÷ /healthz the same way", r5,
        hub=lambda f: f"{_ms(f, 'hub')} (kept up with {f['hub_rate']:.0f}/s)", ceiling=lambda f: _ms(f, "ceiling"),
        ratio=lambda f: f"p50 {_x(f['ratio_p50'])}×, p99 {_x(f['ratio'])}×", goal=4, floor=8, at_most=True),
    Row("R6", "one event hop registry → scheduling ÷ raw aiokafka round trip", r6,
        hub=lambda f: _ms(f, "hub"), ceiling=lambda f: _ms(f, "ceiling"),
        ratio=lambda f: f"p50 {_x(f['ratio_p50'])}×, p99 {_x(f['ratio_p99'])}×", goal=2, floor=3, at_most=True),
    Row("R7", "GET /v1/slots, typical filters, 32 conns", r7,
        hub=lambda f: f"{_ms(f, 'hub')}, {f['hub_rate']:.0f} req/s; CPU {_cpu(f)}",
        ceiling=lambda f: f"none: {f['slots']:,.0f} open slots", ratio=lambda f: f"p99 {f['ratio']:.1f} ms",
        goal=25, floor=100, at_most=True),
    Row("R8", "CPU ms per hold, all hub processes ÷ pgbench's per transaction", r8,
        hub=_cpu, ceiling=lambda f: f"{f['ceiling']:.2f} ms", ratio=lambda f: f"{_x(f['ratio'])}×",
        goal=2, floor=4, at_most=True, judged="hub"),  # the bounds: CPU ms per hold, not a ratio
]  # fmt: skip

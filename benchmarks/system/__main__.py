"""`python -m benchmarks.system`: start a hub with `gmp-hub up`, load it through its public APIs,
and print each row's figure beside its ceiling measured in the same run (see benchmarks/README.md).
Exits non-zero if a correctness check fails (a 5xx, a double booking, a race not won exactly once
with 409 for every loser), whatever the figures."""

import argparse
import asyncio
import sys
import time

from benchmarks.system import search
from benchmarks.system.context import Context, Options
from benchmarks.system.hub import Hub, cpu_share, replicas
from benchmarks.system.pgbench import Ceilings
from benchmarks.system.report import Machine, table
from benchmarks.system.rows import ROWS, Figures, Row, Run

QUICK = Options(runs=1, seconds=3, slots=20_000, events=320, hops=50, paced_requests=300)
FULL = Options(runs=3, seconds=10, slots=450_000, events=1_600, hops=200, paced_requests=1_000)


def arguments() -> tuple[Options, list[Row], str | None, int | None]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.system", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 1 run, 3 s loads, 20,000 slots")
    parser.add_argument("--runs", type=int, help="runs per figure; the table shows medians (default 3)")
    parser.add_argument("--only", help="a subset of rows, e.g. R1,R7")
    parser.add_argument("--slots", type=int, help="slots R7 searches (default 450,000)")
    parser.add_argument("--seconds", type=float, help="length of each throughput load (default 10)")
    parser.add_argument("--commit", help="measure this commit's code (e.g. HEAD) instead of the working tree's")
    parser.add_argument(
        "--replicas", type=int, help="processes of scheduling (default: as gmp-hub up runs it, one per core up to 4)"
    )
    args = parser.parse_args()
    base = QUICK if args.quick else FULL
    options = Options(
        runs=args.runs or base.runs,
        seconds=args.seconds or base.seconds,
        slots=args.slots or base.slots,
        events=base.events,
        hops=base.hops,
        paced_requests=base.paced_requests,
    )
    keys = [k.strip().upper() for k in args.only.split(",")] if args.only else [r.key for r in ROWS]
    if unknown := set(keys) - {r.key for r in ROWS}:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    return options, [r for r in ROWS if r.key in keys], args.commit, args.replicas


async def bench(hub: Hub, options: Options, rows: list[Row], machine: Machine) -> int:
    ctx = Context(hub, options)
    await ctx.open()
    try:
        ceilings = Ceilings(ctx)
        if {"R1", "R2", "R8"} & {r.key for r in rows}:
            await ceilings.prepare()
        catalogue = await search.seed(ctx) if any(r.key == "R7" for r in rows) else None
        results: dict[str, list[Figures]] = {r.key: [] for r in rows}
        for index in range(options.runs):
            run = Run(ctx, ceilings, catalogue, index)
            for row in rows:
                figures = await row.measure(run)
                results[row.key].append(figures)
                print(f"run {index + 1}/{options.runs} {row.key}: {row.hub(figures)} | {row.ceiling(figures)} | "
                      f"{row.ratio(figures)}", flush=True)  # fmt: skip
        await ctx.checks.read_database(ctx.db["scheduling"])
        print(f"\n{machine.description()}\n\n{table(rows, results, options.runs)}\n")
        checks = ctx.checks.lines(ctx.statuses)
        for line, passed in checks:
            print(f"{'ok  ' if passed else 'FAIL'} {line}")
        return 0 if all(passed for _, passed in checks) else 1
    finally:
        await ctx.close()


IDLE_AFTER_READY_SECONDS, IDLE_SECONDS = 5.0, 5.0  # the hub standing idle, measured once after it is ready


def main() -> int:
    options, rows, commit, scheduling_replicas = arguments()
    machine = Machine()
    hub = Hub(commit, scheduling_replicas=scheduling_replicas)
    try:
        ready_in = hub.up()
        time.sleep(IDLE_AFTER_READY_SECONDS)  # the consumers join their groups
        hub.idle = cpu_share(hub, IDLE_SECONDS)
        print(f"gmp-hub up ready in {ready_in:.1f}s, {replicas(hub, 'scheduling')} scheduling processes, "
              f"{hub.idle:.2f} of a core idle (data in {hub.data_dir})", flush=True)  # fmt: skip
        return asyncio.run(bench(hub, options, rows, machine))
    finally:
        hub.down()


if __name__ == "__main__":
    sys.exit(main())

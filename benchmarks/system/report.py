"""The printed report: the machine and how busy other work kept it, the table of medians over the
runs (a Markdown table, to paste into benchmarks/README.md), and the correctness checks."""

import os
import platform
import statistics
import time
from datetime import UTC, datetime

import psutil

from benchmarks.system.rows import Figures, Row


def median(runs: list[Figures]) -> Figures:
    """Each figure's median over the runs (the ratio too: each run's own ratio, not one of medians)."""
    return {name: statistics.median(f[name] for f in runs) for name in runs[0]}


class Machine:
    """nproc, memory, and the CPU that processes other than the hub and this benchmark used meanwhile."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.busy_before = self._busy()
        self.ours_before = self._ours()

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0) + getattr(t, "steal", 0)

    @staticmethod
    def _ours() -> float:
        """This process and all it started (the hub, pgbench, the CLI), dead children included."""
        me = psutil.Process()
        total = 0.0
        for process in (me, *me.children(recursive=True)):
            try:
                t = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def description(self) -> str:
        cpus = os.cpu_count() or 1
        wall = time.monotonic() - self.started
        others = (self._busy() - self.busy_before) - (self._ours() - self.ours_before)
        share = max(others, 0) / (wall * cpus)
        memory = psutil.virtual_memory().total / 2**30
        return (
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} nproc {cpus}, {memory:.0f} GiB RAM. "
            f"Work outside the hub and this benchmark used {share:.0%} of all CPUs over the {wall / 60:.1f} min."
        )


def table(rows: list[Row], results: dict[str, list[Figures]], runs: int) -> str:
    lines = [
        f"| # | what (median of {runs} run{'s' if runs > 1 else ''}) | hub | ceiling, same run | ratio | goal | floor |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        f = median(results[row.key])
        goal, floor = row.bounds()
        ratio = f"{row.ratio(f)} ({row.verdict(f[row.judged])})"
        lines.append(f"| {row.key} | {row.what} | {row.hub(f)} | {row.ceiling(f)} | {ratio} | {goal} | {floor} |")
    return "\n".join(lines)

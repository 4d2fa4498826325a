"""A paced loop starts a round at once after standing idle, and at most one round per interval
while rounds keep coming."""

import asyncio

from shared import database
from shared.database import Pace


async def test_a_round_waits_only_for_what_is_left_of_the_interval(monkeypatch):
    clock = [100.0]
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(round(seconds, 6))
        clock[0] += seconds

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "time", lambda: clock[0])
    monkeypatch.setattr(database.asyncio, "sleep", sleep)
    pace = Pace(0.1)

    await pace.round()  # idle until now: at once
    clock[0] += 0.03
    await pace.round()  # 30 ms after the last round: the other 70
    clock[0] += 0.5
    await pace.round()  # long after: at once again
    assert pauses == [0.07]

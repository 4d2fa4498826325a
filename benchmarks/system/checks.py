"""Correctness in the same runs as the figures: answers the loads did not expect (any 5xx among
them), races without exactly one winner and 409 for every loser, and, read from scheduling's
database, slots held by two live bookings at once."""

from collections import Counter
from dataclasses import dataclass, field

import asyncpg

DOUBLE_BOOKED = """
SELECT count(*) FROM (
  SELECT slot_id FROM booking, unnest(slot_ids) AS slot_id
  WHERE status NOT IN ('cancelled', 'expired')
  GROUP BY slot_id HAVING count(*) > 1
) AS twice
"""


@dataclass
class Checks:
    unexpected: Counter[str] = field(default_factory=Counter)  # "what: status" -> count
    race_rounds: int = 0
    race_losers: int = 0
    race_losers_not_409: int = 0
    race_rounds_without_one_winner: int = 0
    double_booked_slots: int = 0

    def expect(self, what: str, status: int, expected: int) -> bool:
        if status != expected:
            self.unexpected[f"{what}: {status}"] += 1
        return status == expected

    def race(self, statuses: list[int]) -> None:
        self.race_rounds += 1
        winners = statuses.count(201)
        self.race_losers += len(statuses) - winners
        self.race_losers_not_409 += sum(1 for s in statuses if s not in (201, 409))
        self.race_rounds_without_one_winner += winners != 1

    async def read_database(self, scheduling_db: asyncpg.Connection) -> None:
        self.double_booked_slots = await scheduling_db.fetchval(DOUBLE_BOOKED)

    def lines(self, statuses: Counter[int]) -> list[tuple[str, bool]]:
        """Each check as (what it found, whether it passed)."""
        server_errors = sum(n for status, n in statuses.items() if status >= 500)
        lines = [
            (f"5xx answers: {server_errors} of {sum(statuses.values())} requests", server_errors == 0),
            (
                f"double bookings (a slot in two live bookings): {self.double_booked_slots}",
                not self.double_booked_slots,
            ),
        ]
        if self.race_rounds:
            lines.append(
                (f"races: {self.race_rounds} slots, {self.race_rounds_without_one_winner} without exactly one "
                 f"winner; {self.race_losers} losers, {self.race_losers_not_409} not answered 409",
                 not (self.race_rounds_without_one_winner or self.race_losers_not_409))
            )  # fmt: skip
        for what, n in sorted(self.unexpected.items()):
            lines.append((f"unexpected answer {what} ({n}x)", False))
        return lines

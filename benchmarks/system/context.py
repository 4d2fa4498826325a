"""What every measurement works with: the hub, its APIs with the tokens they need, SQL connections
to its databases (to check the truth and to see events arrive), the options of this run, and the
tally of every HTTP status answered."""

import sys
from collections import Counter
from dataclasses import dataclass

import asyncpg

from benchmarks.system import fixtures
from benchmarks.system.checks import Checks
from benchmarks.system.http import Api
from benchmarks.system.hub import Hub, hub_quiet


@dataclass(frozen=True)
class Options:
    runs: int
    seconds: float  # each throughput load
    slots: int  # R7's search space
    events: int  # R4's burst
    hops: int  # R6's single changes
    paced_requests: int  # R5's requests at 100 per second


class Context:
    def __init__(self, hub: Hub, options: Options) -> None:
        self.hub, self.options = hub, options
        self.statuses: Counter[int] = Counter()
        self.checks = Checks()
        self.db: dict[str, asyncpg.Connection] = {}

    async def open(self) -> None:
        self.admin_token = self.hub.token("admin")
        developer = self.hub.token("developer", "--org", "ORG-BENCH")
        self.registry = Api(self.hub.url("registry"), self.admin_token, self.statuses)
        self.scheduling = Api(self.hub.url("scheduling"), self.admin_token, self.statuses)
        self.developer = Api(self.hub.url("scheduling"), developer, self.statuses)
        self.health = Api(self.hub.url("scheduling"), None, self.statuses)
        for database in ("registry", "scheduling"):
            self.db[database] = await asyncpg.connect(self.hub.dsn(database))
        [self.hold_suite] = await fixtures.certified_suites(self.registry, self.db["scheduling"], 1, 1, "Holds")

    async def open_slots(self, count: int) -> list[str]:
        """`count` new open slots on the suite every hold load books on."""
        return await self.hold_suite.publish(self.scheduling, count)

    async def settled(self) -> None:
        """Before a timed run of R1, R2 or R8: the hub quiet again after whatever ran before, and a
        checkpoint, so no run pays for the one before it (its events still relayed, its pages
        still to be written) and the hub and its ceilings start alike."""
        if not await hub_quiet(self.hub):
            print("note: the hub was still busy after 30 s; this run starts anyway", file=sys.stderr)
        await self.db["scheduling"].execute("CHECKPOINT")

    async def close(self) -> None:
        for api in (self.registry, self.scheduling, self.developer, self.health):
            await api.close()
        for conn in self.db.values():
            await conn.close()

"""An in-process bell: a commit that emitted events rings it, so this replica's webhook fan-out
and SSE streams look at the outbox at once. Other replicas find the rows on their next poll."""

import asyncio
import contextlib


class Bell:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()
        self._event = asyncio.Event()  # every current waiter wakes; later ones wait for the next ring

    def ticket(self) -> asyncio.Event:
        """Take before looking for work; waiting on it then returns at once if a ring came meanwhile."""
        return self._event

    async def wait(self, timeout: float, ticket: asyncio.Event | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for((ticket or self._event).wait(), timeout)


new_events = Bell()

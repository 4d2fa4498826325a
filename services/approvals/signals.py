"""An in-process bell: a commit that emitted events rings it, so this replica's webhook fan-out
and SSE streams look at the outbox at once. Other replicas find the rows on their next poll."""

import asyncio


class Bell:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()
        self._event = asyncio.Event()  # every current waiter wakes; later ones wait for the next ring

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass


new_events = Bell()

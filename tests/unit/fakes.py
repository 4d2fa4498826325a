"""What every service's in-memory unit of work shares with the real one (shared.database.UnitOfWork):
the actor, `emit`, `commit`, use as a context manager. Each service's fakes.py adds its repositories."""

from typing import Self

from shared.events import Event


class InMemoryUnitOfWork:
    """Events emitted wait in `pending` and a commit moves them to `published`, as the real unit of
    work writes them to the outbox only with the commit; `events` keeps all, in order."""

    def __init__(self, actor: str | None) -> None:
        self.actor = actor
        self.events: list[Event] = []
        self.pending: list[Event] = []
        self.published: list[Event] = []
        self.committed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.pending = []  # like the real one: what was not committed is gone

    def emit(self, *events: Event) -> None:
        self.events.extend(events)
        self.pending.extend(events)

    async def commit(self) -> None:
        self.committed = True
        self.published += self.pending
        self.pending = []

"""A service's server-sent event stream (`GET /v1/events/stream`) of its own outbox: each event's SSE
`id` is its position in the outbox; a client sends it back as `Last-Event-ID` to resume exactly
after it. `event` is the CloudEvents type, `data` the envelope. The service says which rows a
caller may see and which types may be asked for (`event_stream`)."""

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Header, Query
from sqlmodel.ext.asyncio.session import AsyncSession
from sse_starlette import EventSourceResponse
from starlette.requests import Request

from shared.database import outbox
from shared.outbox_reader import OutboxReader
from shared.problems import BadRequest
from shared.service import ServiceContext

MAX_EVENT_ID = 2**63 - 1  # the outbox's seq is a bigint: a larger id would fail in the database
# The stream's parameters: which types, and where to start.
EventTypes = Annotated[str | None, Query(description="Comma-separated event types; none means all.")]
Since = Annotated[
    int | None,
    Query(ge=0, le=MAX_EVENT_ID, description="Start after this event id (0: from the beginning). Without it or Last-Event-ID, only new events."),
]  # fmt: skip
LastEventId = Annotated[str | None, Header()]
# Given a session and a batch of rows, those of them the caller may see.
Visible = Callable[[AsyncSession, list[sa.Row[Any]]], Awaitable[Iterable[sa.Row[Any]]]]


async def start_after(context: ServiceContext, last_event_id: str | None, since: int | None) -> int:
    """Where a stream starts: after `Last-Event-ID`, else after `since`, else after the newest event."""
    if last_event_id is not None:
        # ASCII only: str.isdigit() also admits "²", which int() refuses
        if not (last_event_id.isascii() and last_event_id.isdigit()) or int(last_event_id) > MAX_EVENT_ID:
            raise BadRequest("Last-Event-ID must be an event id this stream sent (a number).")
        return int(last_event_id)
    if since is not None:
        return since
    async with context.db.sessions() as session:
        return await session.scalar(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))) or 0


async def outbox_events(
    request: Request, context: ServiceContext, after: int, visible: Visible
) -> AsyncIterator[dict[str, str]]:
    """The stream opens with a block holding only the `id` it starts after: EventSource shows no
    event for it, but a reconnection resumes from there even when no event came before the drop."""
    yield {"id": str(after)}
    reader = OutboxReader()
    poll = min(context.settings.job_interval_seconds, 1.0)  # other replicas' commits do not ring this bell
    bell = context.db.new_events
    while not await request.is_disconnected():
        ticket = bell.ticket()
        async with context.db.sessions() as session:
            rows = await reader.read(session, after, 200)
            shown = list(await visible(session, rows)) if rows else []
        for row in shown:
            yield {"id": str(row.seq), "event": row.type, "data": json.dumps(row.envelope)}
        if rows:
            after = rows[-1].seq
        else:
            await bell.wait(poll, ticket)


async def event_stream(
    request: Request,
    context: ServiceContext,
    *,
    types: str | None,
    since: int | None,
    last_event_id: str | None,
    check_event_types: Callable[[Iterable[str]], None],
    visible: Visible,
) -> EventSourceResponse:
    """The stream of the rows of `types` (comma-separated, each one `check_event_types` knows; none:
    all) that the caller may see (`visible`), from where `last_event_id` or `since` says."""
    wanted = {t for t in (types or "").split(",") if t}
    check_event_types(sorted(wanted))
    after = await start_after(context, last_event_id, since)

    async def shown(session: AsyncSession, rows: list[sa.Row[Any]]) -> Iterable[sa.Row[Any]]:
        rows = [row for row in rows if not wanted or row.type in wanted]
        return await visible(session, rows) if rows else []

    return EventSourceResponse(outbox_events(request, context, after, shown), ping=15)

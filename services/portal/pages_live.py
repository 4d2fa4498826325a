"""A regulator's live events (journey 6): the approvals of their authority as they happen, from
approvals' SSE stream. The portal holds the token, so it opens the stream for the browser and
forwards each event with its id; a browser that comes back after a network drop sends the last id
it saw (Last-Event-ID) and the stream resumes exactly after it."""

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse

from services.portal.hub import Api, ServiceDown, ServiceProblem
from services.portal.pages_regulator import Regulator
from services.portal.session import check_csrf
from services.portal.web import UserApi, attempt, render, templates, words

router = APIRouter(dependencies=[Depends(check_csrf)])
SILENCE_SECONDS = 60.0  # approvals sends a comment every 15 s: a minute of nothing means the stream is gone
RETRY_MILLISECONDS = 2000  # how soon the browser comes back after the stream ended


def kind_of(event_type: str) -> str:
    """`gmphub.approvals.approval.review_started.v1` -> `review started`; other nouns say theirs."""
    parts = event_type.split(".")
    if len(parts) < 4:
        return event_type
    noun, verb = parts[2], parts[3]
    return words(verb) if noun == "approval" else f"{words(noun)} {words(verb)}"


def event_types(asyncapi: dict[str, Any]) -> list[tuple[str, str]]:
    """The types the stream can carry, as (type, words), from approvals' own AsyncAPI document.
    Subscription events are the subscriptions' audit trail: the stream never carries them."""
    names = [m.get("name", "") for m in asyncapi.get("components", {}).get("messages", {}).values()]
    return [(name, kind_of(name)) for name in sorted(names) if name and ".subscription." not in name]


@router.get("/live")
async def live_events(request: Request, user: Regulator, api: UserApi) -> Response:
    published = await attempt(api.get("approvals", "/asyncapi.json"))
    types = event_types(published.value) if published.value else []
    return render(request, "live.html", types=types, published=published)


async def server_sent(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, str]]:
    """The blocks of a text/event-stream: their id, event and data (comments and `retry` dropped); a
    block may hold only an id (where approvals' stream starts)."""
    event: dict[str, str] = {}
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield {**event, "data": "\n".join(data)}
            elif "id" in event:
                yield event
            event, data = {}, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field in ("id", "event"):
            event[field] = value


def row(seq: str, envelope: dict[str, Any]) -> str:
    data = envelope.get("data") or {}
    return templates.get_template("live_event.html").render(
        seq=seq, e=envelope, kind=kind_of(envelope.get("type", "")), approval=data.get("approval"), data=data
    )


async def forwarded(api: Api, resume: str | None) -> AsyncIterator[dict[str, Any]]:
    """Approvals' events as table rows, each under its own id (the browser's Last-Event-ID). A stream
    that breaks ends with the problem said; the browser then comes back and resumes where it was. A
    refusal (the sign-in ran out, say) stops it: coming back would be refused again."""
    headers = {"Last-Event-ID": resume} if resume is not None else None
    try:
        async with api.stream("approvals", "/v1/events/stream", SILENCE_SECONDS, headers=headers) as upstream:
            async for event in server_sent(upstream.aiter_lines()):
                if "id" in event and "data" in event:
                    html = row(event["id"], json.loads(event["data"]))
                    yield {"id": event["id"], "event": "approval-event", "data": html}
                elif "id" in event:
                    # Approvals' first block, where it starts: from here on nothing is missed, even
                    # when the connection drops before any event came.
                    yield {"id": event["id"], "event": "ready", "data": event["id"], "retry": RETRY_MILLISECONDS}
    except ServiceDown as down:
        yield {"event": "problem", "data": templates.get_template("problem_inline.html").render(problem=down)}
    except ServiceProblem as refused:
        yield {"event": "problem", "data": templates.get_template("problem_inline.html").render(problem=refused)}
        yield {"event": "stopped", "data": "stopped"}


@router.get("/live/stream")
async def live_stream(
    request: Request,
    user: Regulator,
    api: UserApi,
    after: Annotated[int | None, Query(ge=0, description="Resume after this event id (a new connection).")] = None,
) -> EventSourceResponse:
    """The browser's own reconnection sends Last-Event-ID; a page that had to open a new connection
    says where it was with `after`."""
    resume = request.headers.get("last-event-id") or (str(after) if after is not None else None)
    return EventSourceResponse(forwarded(api, resume), ping=15)

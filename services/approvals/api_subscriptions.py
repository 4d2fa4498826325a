"""How regulators follow approvals besides the Kafka topic: webhook subscriptions and an SSE stream."""

from collections.abc import Iterator
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from sse_starlette import EventSourceResponse

from services.approvals import models, queries, subscriptions
from services.approvals.schemas import SubscriptionCreated, SubscriptionIn, SubscriptionOut
from services.approvals.webhooks import authority_of, holder_of
from shared.auth import CurrentPrincipal, Principal, Role
from shared.event_stream import EventTypes, LastEventId, Since, event_stream
from shared.problems import Forbidden, Unprocessable
from shared.service import Context
from shared.webhook_api import subscription_routes

router = APIRouter(prefix="/v1", tags=["subscriptions"])


def _own_authority(principal: Principal, asked: str | None) -> str:
    """A regulator follows its own authority; the hub operator names one."""
    principal.require_role(Role.REGULATOR)
    authority = asked or principal.authority
    if authority is None:
        raise Unprocessable("Name the authority to follow.")
    principal.require_authority(authority)
    return authority


def _subscriber(principal: Principal, body: SubscriptionIn) -> dict[str, Any]:
    """A new subscription follows the approval events of one authority."""
    return {"authority": _own_authority(principal, body.authority)}


subscription_routes(
    router, tables=models.WEBHOOK_TABLES, cases=subscriptions.cases, body=SubscriptionIn, subscriber=_subscriber,
    subscribers=(Role.REGULATOR,), listed=queries.subscriptions, out=SubscriptionOut, created=SubscriptionCreated,
)  # fmt: skip


# --- the SSE stream --------------------------------------------------------------------------


@router.get("/events/stream", tags=["events"], response_class=EventSourceResponse,
            summary="Server-sent events of approvals the caller may see; resumable with Last-Event-ID")  # fmt: skip
async def stream_events(
    request: Request,
    principal: CurrentPrincipal,
    context: Context,
    authority: Annotated[str | None, Query(description="Regulators: defaults to their own authority.")] = None,
    types: EventTypes = None,
    since: Since = None,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """Each event's SSE `id` is its position in the approvals outbox; send it back as
    `Last-Event-ID` to resume exactly after it (shared/event_stream.py)."""
    if principal.role is Role.REGULATOR:
        authority = _own_authority(principal, authority)
    elif principal.role is not Role.DEVELOPER and not principal.is_admin:
        raise Forbidden("The approval event stream is for regulators, developers and the hub operator.")

    async def visible(session: AsyncSession, rows: list[sa.Row]) -> Iterator[sa.Row]:
        letters: set[str] = set()
        if principal.role is Role.DEVELOPER:
            letters = await queries.letters_held(session, principal.org_id)
        return (row for row in rows if _shown(row, principal, authority, letters))

    return await event_stream(
        request, context, types=types, since=since, last_event_id=last_event_id,
        check_event_types=subscriptions.check_event_types, visible=visible,
    )  # fmt: skip


def _shown(row: sa.Row, principal: Principal, authority: str | None, letters: set[str]) -> bool:
    """Of the authority asked for; a developer's only if it holds the approval or a letter of
    access to it."""
    if authority is not None and authority_of(row.envelope) != authority:
        return False
    return principal.role is not Role.DEVELOPER or holder_of(row.envelope) == principal.org_id or row.key in letters

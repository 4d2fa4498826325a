"""How developers and facilities follow their own bookings, campaigns, agreements, requests and
quotes besides the Kafka topic: webhook subscriptions and an SSE stream."""

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from sse_starlette import EventSourceResponse

from services.scheduling import models, queries, subscriptions
from services.scheduling.schemas import SubscriptionCreated, SubscriptionIn, SubscriptionOut
from services.scheduling.webhooks import visible_to
from shared.auth import CurrentPrincipal, Principal, Role
from shared.event_stream import EventTypes, LastEventId, Since, event_stream
from shared.service import Context
from shared.webhook_api import subscription_routes

router = APIRouter(prefix="/v1", tags=["subscriptions"])


def _subscriber(principal: Principal, body: SubscriptionIn) -> dict[str, Any]:
    return subscriptions.subscriber(principal, body.org_id, body.facility_id)


subscription_routes(
    router, tables=models.WEBHOOK_TABLES, cases=subscriptions.cases, body=SubscriptionIn, subscriber=_subscriber,
    subscribers=(Role.DEVELOPER, Role.FACILITY), listed=queries.subscriptions, out=SubscriptionOut,
    created=SubscriptionCreated,
)  # fmt: skip


@router.get("/events/stream", tags=["events"], response_class=EventSourceResponse,
            summary="Server-sent events of the caller's own bookings, campaigns, agreements, requests and quotes; "
                    "resumable with Last-Event-ID")  # fmt: skip
async def stream_events(
    request: Request,
    principal: CurrentPrincipal,
    context: Context,
    types: EventTypes = None,
    since: Since = None,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """Each event's SSE `id` is its position in the scheduling outbox; send it back as
    `Last-Event-ID` to resume exactly after it (shared/event_stream.py). A developer sees its
    organisation's events, a facility user those of its facilities."""
    principal.require_role(Role.DEVELOPER, Role.FACILITY)

    async def visible(session: AsyncSession, rows: list[sa.Row]) -> Iterator[sa.Row]:
        return (row for row in rows if visible_to(principal, row))

    return await event_stream(
        request, context, types=types, since=since, last_event_id=last_event_id,
        check_event_types=subscriptions.check_event_types, visible=visible,
    )  # fmt: skip

"""Which scheduling events go to which developers' and facilities' webhooks and event streams:
those of their own bookings, campaigns, agreements, waitlist entries, capacity, requests and
quotes. Delivering them (signing, retries, the sender and its loops) is shared mechanism,
shared/webhooks.py."""

from typing import Any

import sqlalchemy as sa

from services.scheduling import events, models
from shared.auth import Principal, Role
from shared.events import ChainAnchored, registry

ACTOR = "service:scheduling-webhooks"
# What a subscriber may follow: the events about bookings, agreements, waitlist entries and
# capacity (the subscriptions' own events and the audit anchors are only kept and published).
FOLLOWABLE = sorted(
    t
    for t, cls in registry.items()
    if cls.service() == "scheduling" and not issubclass(cls, (events.SubscriptionEvent, ChainAnchored))
)


def parties(envelope: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The organisations and facilities an event concerns: the `org_id`, `facility_id` and
    `facility_ids` of its data and of the objects in it (the booking, the agreement, the entry),
    of whom its class's `audience` says (events.py)."""
    data = envelope.get("data") or {}
    audience: events.Audience = getattr(registry.get(envelope.get("type", "")), "audience", "parties")
    if audience == "addressed facility":
        return set(), {str(data["facility_id"])}
    orgs: set[str] = set()
    facilities: set[str] = set()
    for part in (data, *(value for value in data.values() if isinstance(value, dict))):
        if part.get("org_id"):
            orgs.add(str(part["org_id"]))
        if part.get("facility_id"):
            facilities.add(str(part["facility_id"]))
        facilities.update(str(f) for f in part.get("facility_ids") or ())
    return orgs, set() if audience == "developer" else facilities


def concerns(row: sa.Row, org_id: str | None, facility_ids: set[str]) -> bool:
    """Whether a followable event concerns the organisation or one of the facilities."""
    if row.type not in FOLLOWABLE:
        return False
    orgs, facilities = parties(row.envelope)
    return (org_id is not None and org_id in orgs) or bool(facility_ids & facilities)


def follows(subscription: models.Subscription, row: sa.Row) -> bool:
    facility = {str(subscription.facility_id)} if subscription.facility_id else set()
    return concerns(row, subscription.org_id, facility)


def visible_to(principal: Principal, row: sa.Row) -> bool:
    """On the stream: a developer sees its organisation's events, a facility user its facilities',
    the hub operator every followable event."""
    if principal.is_admin:
        return row.type in FOLLOWABLE
    org_id = principal.org_id if principal.role is Role.DEVELOPER else None
    facility_ids = set(principal.facility_ids) if principal.role is Role.FACILITY else set()
    return concerns(row, org_id, facility_ids)

"""Subscription use cases: a developer organisation subscribes a URL to the events of its
bookings, agreements and waitlist entries, a facility to those of its own; either rotates the
signing secret or ends the subscription (shared/subscriptions.py). Each is an event
too: the subscriptions' audit trail, published but never itself sent to webhooks or the stream.
The caller commits."""

from typing import Any
from uuid import UUID

from services.scheduling import events, models
from services.scheduling.webhooks import FOLLOWABLE
from shared.auth import Principal, Role
from shared.problems import Unprocessable
from shared.subscriptions import SubscriptionCases


def may_see(principal: Principal, subscription: models.Subscription) -> bool:
    """The users of the subscribing organisation or facility, and the hub operator."""
    if principal.role is Role.DEVELOPER:
        return subscription.org_id is not None and subscription.org_id == principal.org_id
    if principal.role is Role.FACILITY:
        return str(subscription.facility_id) in principal.facility_ids
    return principal.is_admin


def subscriber(principal: Principal, org_id: str | None, facility_id: UUID | None) -> dict[str, Any]:
    """Whose events a new subscription follows: a developer's organisation, a facility user's
    facility (to be named when the token lists several), or the one the hub operator names."""
    principal.require_role(Role.DEVELOPER, Role.FACILITY)
    if principal.role is Role.DEVELOPER:
        if facility_id is not None:
            raise Unprocessable("A developer follows its organisation's events: leave facility_id out.")
        org_id = org_id or principal.org_id
    elif principal.role is Role.FACILITY:
        if org_id is not None:
            raise Unprocessable("A facility follows its own events: leave org_id out.")
        if facility_id is None and len(principal.facility_ids) == 1:
            facility_id = UUID(next(iter(principal.facility_ids)))
    if (org_id is None) == (facility_id is None):
        raise Unprocessable("Name the one organisation (org_id) or facility (facility_id) whose events to follow.")
    if org_id is not None:
        principal.require_org(org_id)
        return {"org_id": org_id}
    principal.require_facility(str(facility_id))
    return {"facility_id": facility_id}


def _state(sub: models.Subscription) -> events.SubscriptionState:
    return events.SubscriptionState(
        subscription_id=sub.id, url=sub.url, subscriber_org_id=sub.org_id, subscriber_facility_id=sub.facility_id,
        event_types=list(sub.event_types), active=sub.active, previous_secret_expires_at=sub.previous_secret_expires_at,
    )  # fmt: skip


cases = SubscriptionCases(
    models.Subscription, FOLLOWABLE, may_see, _state,
    (events.SubscriptionCreated, events.SubscriptionSecretRotated, events.SubscriptionEnded),
)  # fmt: skip
check_event_types = cases.check_event_types  # the event-stream routes check the types asked for

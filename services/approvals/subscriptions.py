"""Subscription use cases: a regulator subscribes a URL to its authority's approval events
(`subscribe(..., authority=...)`), rotates the signing secret, ends the subscription
(shared/subscriptions.py). Each is an event too: the subscriptions' audit trail, published but
never itself sent to webhooks or the stream. The caller commits."""

from services.approvals import events, models
from shared.auth import Principal, Role
from shared.events import registry
from shared.subscriptions import SubscriptionCases

# What a subscriber may follow: approval and letter events (subscription events are only kept and published).
APPROVAL_EVENT_TYPES = sorted(
    t for t, cls in registry.items() if cls.service() == "approvals" and not issubclass(cls, events.SubscriptionEvent)
)


def may_see(principal: Principal, subscription: models.Subscription) -> bool:
    """The regulators of the subscription's authority and the hub operator."""
    return principal.is_admin or principal.role is Role.REGULATOR and principal.authority == subscription.authority


def _state(sub: models.Subscription) -> events.SubscriptionState:
    return events.SubscriptionState(
        subscription_id=sub.id, url=sub.url, subscriber_authority=sub.authority, event_types=list(sub.event_types),
        active=sub.active, previous_secret_expires_at=sub.previous_secret_expires_at,
    )  # fmt: skip


cases = SubscriptionCases(
    models.Subscription, APPROVAL_EVENT_TYPES, may_see, _state,
    (events.SubscriptionCreated, events.SubscriptionSecretRotated, events.SubscriptionEnded),
)  # fmt: skip
check_event_types = cases.check_event_types  # the event-stream routes check the types asked for

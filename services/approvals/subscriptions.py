"""Subscription use cases: a regulator subscribes a URL to its authority's approval events,
rotates the signing secret, ends the subscription. Each is an event too: the subscriptions'
audit trail, published but never itself sent to webhooks or the stream. The caller commits."""

from datetime import timedelta
from uuid import UUID

from services.approvals import events, models
from services.approvals.repository import ApprovalsUnitOfWork
from shared import webhooks
from shared.auth import Principal, Role
from shared.events import registry
from shared.problems import NotFound

# What a subscriber may follow: approval and letter events (subscription events are only kept and published).
APPROVAL_EVENT_TYPES = sorted(
    t for t, cls in registry.items() if cls.service() == "approvals" and not issubclass(cls, events.SubscriptionEvent)
)


def check_event_types(types: list[str]) -> None:
    webhooks.check_event_types(types, APPROVAL_EVENT_TYPES)


def may_see(principal: Principal, subscription: models.Subscription) -> bool:
    """The regulators of the subscription's authority and the hub operator."""
    return principal.is_admin or principal.role is Role.REGULATOR and principal.authority == subscription.authority


def _emit(uow: ApprovalsUnitOfWork, event: type[events.SubscriptionEvent], sub: models.Subscription) -> None:
    state = events.SubscriptionState(
        subscription_id=sub.id, url=sub.url, subscriber_authority=sub.authority, event_types=list(sub.event_types),
        active=sub.active, previous_secret_expires_at=sub.previous_secret_expires_at,
    )  # fmt: skip
    uow.emit(event(subscription_id=sub.id, subscription=state))


async def _locked(uow: ApprovalsUnitOfWork, principal: Principal, subscription_id: UUID) -> models.Subscription:
    sub = await uow.subscriptions.lock(subscription_id)
    if sub is None or not may_see(principal, sub):
        raise NotFound(f"No subscription {subscription_id} that this token may see.")
    return sub


async def subscribe(
    uow: ApprovalsUnitOfWork, url: str, authority: str, event_types: list[str], *, allow_private_targets: bool
) -> models.Subscription:
    """Subscribe `url` to `authority`'s approval events of `event_types` (none: all), with a new
    signing secret. The URL must resolve to public addresses unless the operator allows others."""
    sub = await webhooks.new_subscription(
        models.Subscription, url, event_types, APPROVAL_EVENT_TYPES, allow_private_targets=allow_private_targets,
        created_by=uow.actor, authority=authority,
    )  # fmt: skip
    uow.subscriptions.add(sub)
    _emit(uow, events.SubscriptionCreated, sub)
    return sub


async def rotate(
    uow: ApprovalsUnitOfWork, principal: Principal, subscription_id: UUID, grace: timedelta
) -> tuple[models.Subscription, str]:
    """A new signing secret; the one it replaces keeps signing beside it for `grace`."""
    sub = await _locked(uow, principal, subscription_id)
    secret = webhooks.rotate(sub, principal.actor, grace)
    _emit(uow, events.SubscriptionSecretRotated, sub)
    return sub, secret


async def end(uow: ApprovalsUnitOfWork, principal: Principal, subscription_id: UUID) -> models.Subscription:
    """Nothing more is sent (pending deliveries are cancelled); the record and deliveries are kept.
    Ending an ended subscription changes nothing."""
    sub = await _locked(uow, principal, subscription_id)
    if await webhooks.end(uow.deliveries, sub):
        _emit(uow, events.SubscriptionEnded, sub)
    return sub

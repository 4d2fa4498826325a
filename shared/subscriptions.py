"""A service's subscription use cases and their events: a subscriber subscribes a URL to the
events it may follow, rotates the signing secret, ends the subscription. Each is an event of the
service too: its audit trail of the subscriptions. The service says who may see a subscription,
what its state shows and which event types may be followed."""

import types
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Protocol, cast

from pydantic import BaseModel

from shared.auth import Principal
from shared.events import Event
from shared.problems import Conflict, NotFound, Unprocessable
from shared.targets import TargetRefused, check_target
from shared.webhook_store import S, WebhookUnitOfWork, now
from shared.webhooks import new_secret, rotate_secret


def subscription_events(service: str, state: type[BaseModel]) -> tuple[type[Event], ...]:
    """The events of a service's subscriptions, its audit trail of them (published, never sent to
    webhooks or the stream): their base, then created, secret rotated, ended; each carries the
    subscription's `state` as the service shows it."""

    def event(name: str, base: type[Event], namespace: dict[str, Any]) -> type[Event]:
        namespace["__module__"] = state.__module__
        return types.new_class(name, (base,), {}, lambda ns: ns.update(namespace))

    base = event("SubscriptionEvent", Event, {
        "__annotations__": {"subscription_id": uuid.UUID, "subscription": state},
        "aggregate_field": "subscription_id",
    })  # fmt: skip
    steps = (
        ("SubscriptionCreated", "created", "A subscriber subscribed a URL to the events it may follow."),
        ("SubscriptionSecretRotated", "secret_rotated",
         "The signing secret was replaced; the old one signs beside it until `previous_secret_expires_at`."),
        ("SubscriptionEnded", "ended", "Nothing more is sent to the subscription; its record and deliveries are kept."),
    )  # fmt: skip
    return base, *(
        event(name, base, {"__doc__": doc, "type": f"gmphub.{service}.subscription.{step}.v1"})
        for name, step, doc in steps
    )


class SubscriberUnitOfWork(WebhookUnitOfWork, Protocol):
    def emit(self, *events: Event) -> None: ...


@dataclass(frozen=True)
class SubscriptionCases(Generic[S]):
    """A service's subscription use cases: subscribe a URL to the events of `followable` types
    that concern a subscriber, rotate the signing secret, end the subscription; each is one of
    `events` (created, rotated, ended) carrying the subscription's `state`. The caller commits."""

    model: type[S]
    followable: list[str]
    may_see: Callable[[Principal, S], bool]
    state: Callable[[S], BaseModel]
    events: tuple[type[Event], type[Event], type[Event]]

    def check_event_types(self, types: Iterable[str]) -> None:
        unknown = sorted(set(types) - set(self.followable))
        if unknown:
            raise Unprocessable(f"Unknown event types {', '.join(unknown)}; known: {', '.join(self.followable)}.")

    async def subscribe(
        self,
        uow: SubscriberUnitOfWork,
        url: str,
        event_types: list[str],
        *,
        allow_private_targets: bool,
        **subscriber: Any,
    ) -> S:
        """Subscribe `url` to the events of `event_types` (none: all) that concern `subscriber`,
        with a new signing secret. The URL must resolve to public addresses unless the operator
        allows others."""  # fmt: skip
        self.check_event_types(event_types)
        try:
            await check_target(url, allow_private_targets)
        except TargetRefused as exc:
            raise Unprocessable(f"Webhooks cannot go to {url}: {exc}.") from None
        sub = self.model(
            url=url, event_types=sorted(set(event_types)), secret=new_secret(), created_by=uow.actor or "unknown",
            **subscriber,
        )  # fmt: skip
        uow.subscriptions.add(sub)
        self._emit(uow, 0, sub)
        return sub

    async def rotate(
        self, uow: SubscriberUnitOfWork, principal: Principal, subscription_id: uuid.UUID, grace: timedelta
    ) -> tuple[S, str]:
        """A new signing secret; the one it replaces keeps signing beside it for `grace`."""
        sub = await self._locked(uow, principal, subscription_id)
        if not sub.active:
            raise Conflict(f"Subscription {subscription_id} has ended; nothing is signed for it any more.")
        secret = rotate_secret(sub, principal.actor, grace)
        self._emit(uow, 1, sub)
        return sub, secret

    async def end(self, uow: SubscriberUnitOfWork, principal: Principal, subscription_id: uuid.UUID) -> S:
        """Nothing more is sent (pending deliveries are cancelled); the record and deliveries are
        kept. Ending an ended subscription changes nothing."""
        sub = await self._locked(uow, principal, subscription_id)
        if sub.active:
            sub.active, sub.deactivated_at = False, now()
            await uow.deliveries.cancel_pending(sub.id)
            self._emit(uow, 2, sub)
        return sub

    async def _locked(self, uow: SubscriberUnitOfWork, principal: Principal, subscription_id: uuid.UUID) -> S:
        sub = await uow.subscriptions.lock(subscription_id)
        if sub is None or not self.may_see(principal, sub):
            raise NotFound(f"No subscription {subscription_id} that this token may see.")
        return cast(S, sub)

    def _emit(self, uow: SubscriberUnitOfWork, step: int, sub: S) -> None:
        event: Any = self.events[step]  # the service's, on its base that declares these fields
        uow.emit(event(subscription_id=sub.id, subscription=self.state(sub)))

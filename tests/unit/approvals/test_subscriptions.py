"""Subscription use cases on an in-memory unit of work: subscribing, rotating the secret, ending,
each recorded as an event that never carries a secret."""

from datetime import timedelta

import pytest

from services.approvals import events, subscriptions, webhooks
from shared import webhooks as sending
from shared.auth import Principal, Role
from shared.problems import Conflict, NotFound, Unprocessable
from tests.unit.approvals.fakes import FakeUnitOfWork
from tests.unit.approvals.test_deliveries import APPROVED, outbox_row

REGULATOR = Principal(sub="inspector-1", role=Role.REGULATOR, authority="DE-PEI")
OTHER_REGULATOR = Principal(sub="inspector-2", role=Role.REGULATOR, authority="FR-ANSM")
SUSPENDED = "gmphub.approvals.approval.suspended.v1"
GRACE = timedelta(hours=24)


async def subscribed(uow: FakeUnitOfWork, authority: str = "DE-PEI", event_types: tuple[str, ...] = (APPROVED,)):
    sub = await subscriptions.cases.subscribe(  # private targets allowed: no name is resolved
        uow, "https://pei.example.eu/hooks", list(event_types), allow_private_targets=True, authority=authority
    )
    await uow.commit()
    return sub


async def test_a_subscription_gets_its_secret_once_and_is_recorded_without_it():
    uow = FakeUnitOfWork(actor=REGULATOR.actor)

    sub = await subscribed(uow, event_types=(SUSPENDED, APPROVED, APPROVED))

    assert uow.subscriptions.rows == {sub.id: sub}
    assert sub.secret.startswith("whsec_") and sub.created_by == REGULATOR.actor
    assert sub.event_types == [APPROVED, SUSPENDED]
    [event] = uow.published
    assert isinstance(event, events.SubscriptionCreated)
    assert event.subscription.subscriber_authority == "DE-PEI" and "whsec_" not in event.model_dump_json()


async def test_unknown_event_types_and_urls_into_the_operators_network_are_refused():
    uow = FakeUnitOfWork(actor=REGULATOR.actor)

    with pytest.raises(Unprocessable, match="Unknown event types gmphub.approvals.subscription.created.v1"):
        await subscribed(uow, event_types=("gmphub.approvals.subscription.created.v1",))
    with pytest.raises(Unprocessable, match="private or reserved address"):
        await subscriptions.cases.subscribe(
            uow, "http://10.0.0.5/hooks", [], allow_private_targets=False, authority="DE-PEI"
        )
    assert uow.subscriptions.rows == {} and uow.pending == []


async def test_a_rotated_secret_signs_beside_the_new_one_for_the_grace():
    uow = FakeUnitOfWork(actor=REGULATOR.actor)
    sub = await subscribed(uow)
    first = sub.secret

    _, secret = await subscriptions.cases.rotate(uow, REGULATOR, sub.id, GRACE)
    await uow.commit()

    assert secret == sub.secret != first and sub.previous_secret == first
    assert sub.secret_rotated_by == REGULATOR.actor
    event = uow.published[-1]
    assert isinstance(event, events.SubscriptionSecretRotated)
    assert event.subscription.previous_secret_expires_at == sub.previous_secret_expires_at


async def test_another_authority_finds_no_such_subscription():
    uow = FakeUnitOfWork(actor=REGULATOR.actor)
    sub = await subscribed(uow)

    with pytest.raises(NotFound, match="that this token may see"):
        await subscriptions.cases.rotate(uow, OTHER_REGULATOR, sub.id, GRACE)
    with pytest.raises(NotFound):
        await subscriptions.cases.end(uow, OTHER_REGULATOR, sub.id)
    assert sub.active and uow.pending == []


async def test_ending_cancels_what_is_pending_once_and_an_ended_subscription_signs_nothing_more():
    uow = FakeUnitOfWork(actor=REGULATOR.actor)
    sub = await subscribed(uow)
    uow.deliveries.outbox.append(outbox_row(1, APPROVED, "DE-PEI"))
    await sending.fan_out(uow, None, webhooks.follows)

    await subscriptions.cases.end(uow, REGULATOR, sub.id)
    await subscriptions.cases.end(uow, REGULATOR, sub.id)  # changes nothing
    await uow.commit()

    assert not sub.active and sub.deactivated_at is not None
    assert [d.status for d in uow.deliveries.rows.values()] == ["cancelled"]
    assert [type(e) for e in uow.published] == [events.SubscriptionCreated, events.SubscriptionEnded]
    with pytest.raises(Conflict, match="has ended"):
        await subscriptions.cases.rotate(uow, REGULATOR, sub.id, GRACE)

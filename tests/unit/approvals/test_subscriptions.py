"""Subscription use cases on an in-memory unit of work: subscribing, rotating the secret, ending,
each recorded as an event that never carries a secret; and the fan-out of approval events to the
subscriptions that follow them."""

from datetime import UTC, datetime, timedelta

import pytest

from services.approvals import events, subscriptions, webhooks
from shared.auth import Principal, Role
from shared.problems import Conflict, NotFound, Unprocessable
from tests.unit.approvals.fakes import FakeUnitOfWork, OutboxRow

REGULATOR = Principal(sub="inspector-1", role=Role.REGULATOR, authority="DE-PEI")
OTHER_REGULATOR = Principal(sub="inspector-2", role=Role.REGULATOR, authority="FR-ANSM")
APPROVED = "gmphub.approvals.approval.approved.v1"
SUSPENDED = "gmphub.approvals.approval.suspended.v1"
GRACE = timedelta(hours=24)


async def subscribed(uow: FakeUnitOfWork, authority: str = "DE-PEI", event_types: tuple[str, ...] = (APPROVED,)):
    sub = await subscriptions.subscribe(  # private targets allowed: no name is resolved
        uow, "https://pei.example.eu/hooks", authority, list(event_types), allow_private_targets=True
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
        await subscriptions.subscribe(uow, "http://10.0.0.5/hooks", "DE-PEI", [], allow_private_targets=False)
    assert uow.subscriptions.rows == {} and uow.pending == []


async def test_a_rotated_secret_signs_beside_the_new_one_for_the_grace():
    uow = FakeUnitOfWork(actor=REGULATOR.actor)
    sub = await subscribed(uow)
    first = sub.secret

    _, secret = await subscriptions.rotate(uow, REGULATOR, sub.id, GRACE)
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
        await subscriptions.rotate(uow, OTHER_REGULATOR, sub.id, GRACE)
    with pytest.raises(NotFound):
        await subscriptions.end(uow, OTHER_REGULATOR, sub.id)
    assert sub.active and uow.pending == []


async def test_ending_cancels_what_is_pending_once_and_an_ended_subscription_signs_nothing_more():
    uow = FakeUnitOfWork(actor=REGULATOR.actor)
    sub = await subscribed(uow)

    await subscriptions.end(uow, REGULATOR, sub.id)
    await subscriptions.end(uow, REGULATOR, sub.id)  # changes nothing
    await uow.commit()

    assert not sub.active and sub.deactivated_at is not None
    assert uow.deliveries.cancelled_for == [sub.id]
    assert [type(e) for e in uow.published] == [events.SubscriptionCreated, events.SubscriptionEnded]
    with pytest.raises(Conflict, match="has ended"):
        await subscriptions.rotate(uow, REGULATOR, sub.id, GRACE)


def outbox_row(seq: int, type_: str, authority: str, written_at: datetime | None = None) -> OutboxRow:
    envelope = {"id": f"event-{seq}", "type": type_, "data": {"approval": {"authority": authority}}}
    return OutboxRow(seq, type_, f"approval-{seq}", envelope, written_at or datetime.now(UTC))


async def test_each_event_goes_to_the_subscriptions_of_its_authority_that_follow_its_type():
    uow = FakeUnitOfWork(actor=REGULATOR.actor)
    pei_approved = await subscribed(uow, "DE-PEI", (APPROVED,))
    pei_all = await subscribed(uow, "DE-PEI", ())
    ansm_all = await subscribed(uow, "FR-ANSM", ())
    uow.deliveries.outbox += [
        outbox_row(1, APPROVED, "DE-PEI"),
        outbox_row(2, SUSPENDED, "DE-PEI"),
        outbox_row(3, APPROVED, "FR-ANSM"),
        outbox_row(4, APPROVED, "DE-PEI", written_at=datetime.now(UTC) - timedelta(hours=1)),  # before them all
    ]

    assert await webhooks.fan_out(uow, reader=None) == (4, 4)

    made = {(d["outbox_seq"], d["subscription_id"]) for d in uow.deliveries.rows}
    assert made == {(1, pei_approved.id), (1, pei_all.id), (2, pei_all.id), (3, ansm_all.id)}
    assert uow.deliveries.cursor == 4
    assert await webhooks.fan_out(uow, reader=None) == (0, 0)  # nothing new behind the cursor

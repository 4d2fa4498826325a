"""Webhook delivery use cases on an in-memory unit of work: each approval event becomes a delivery
to every subscription that follows it, and each attempt at one is delivered, retried after a
growing pause, or failed once out of attempts."""

from datetime import UTC, datetime, timedelta

from services.approvals import subscriptions, webhooks
from shared import webhooks as sending
from shared.auth import Principal, Role
from tests.unit.approvals.fakes import FakeUnitOfWork, OutboxRow

APPROVED = "gmphub.approvals.approval.approved.v1"
SUSPENDED = "gmphub.approvals.approval.suspended.v1"
LEASE = timedelta(seconds=35)
REGULATOR = Principal(sub="inspector-1", role=Role.REGULATOR, authority="DE-PEI")


def outbox_row(seq: int, type_: str, authority: str, written_at: datetime | None = None) -> OutboxRow:
    envelope = {"id": f"event-{seq}", "type": type_, "data": {"approval": {"authority": authority}}}
    return OutboxRow(seq, type_, f"approval-{seq}", envelope, written_at or datetime.now(UTC))


async def subscribed(uow: FakeUnitOfWork, authority: str, *event_types: str):
    url = f"https://{authority.lower()}.example.eu/hooks"
    return await subscriptions.cases.subscribe(
        uow, url, list(event_types), allow_private_targets=True, authority=authority
    )


async def test_each_event_goes_to_the_subscriptions_of_its_authority_that_follow_its_type():
    uow = FakeUnitOfWork()
    pei_approved = await subscribed(uow, "DE-PEI", APPROVED)
    pei_all = await subscribed(uow, "DE-PEI")
    ansm_all = await subscribed(uow, "FR-ANSM")
    uow.deliveries.outbox += [
        outbox_row(1, APPROVED, "DE-PEI"),
        outbox_row(2, SUSPENDED, "DE-PEI"),
        outbox_row(3, APPROVED, "FR-ANSM"),
        outbox_row(4, APPROVED, "DE-PEI", written_at=datetime.now(UTC) - timedelta(hours=1)),  # before them all
    ]

    assert await sending.fan_out(uow, None, webhooks.follows) == (4, 4)

    made = {(d.outbox_seq, d.subscription_id) for d in uow.deliveries.rows.values()}
    assert made == {(1, pei_approved.id), (1, pei_all.id), (2, pei_all.id), (3, ansm_all.id)}
    assert uow.deliveries.cursor == 4
    assert await sending.fan_out(uow, None, webhooks.follows) == (0, 0)  # nothing new behind the cursor


async def one_claimed_delivery(uow: FakeUnitOfWork):
    await subscribed(uow, "DE-PEI")
    uow.deliveries.outbox.append(outbox_row(1, APPROVED, "DE-PEI"))
    await sending.fan_out(uow, None, webhooks.follows)
    [claimed] = await uow.deliveries.claim(10, LEASE)
    return claimed


async def test_a_refused_attempt_is_tried_again_later_and_failed_once_out_of_attempts():
    uow = FakeUnitOfWork()
    first = await one_claimed_delivery(uow)
    [delivery] = uow.deliveries.rows.values()

    assert await sending.record_attempt(uow, first, 503, "HTTP 503", 40, max_attempts=2) == "retry"
    assert delivery.status == "pending" and delivery.last_status_code == 503
    assert await uow.deliveries.claim(10, LEASE) == []  # not due again yet
    delivery.next_attempt_at = datetime.now(UTC)  # the backoff passed
    [second] = await uow.deliveries.claim(10, LEASE)
    assert second.attempts == 2

    assert await sending.record_attempt(uow, second, None, "ConnectTimeout", 5000, max_attempts=2) == "failed"
    assert delivery.status == "failed"
    assert [(a.attempt, a.status_code, a.error) for a in uow.deliveries.attempts] == [
        (1, 503, "HTTP 503"),
        (2, None, "ConnectTimeout"),
    ]
    assert await uow.deliveries.next_due_in() is None


async def test_an_answered_attempt_is_delivered_and_the_pause_grows_with_each_attempt():
    uow = FakeUnitOfWork()
    claimed = await one_claimed_delivery(uow)

    assert await sending.record_attempt(uow, claimed, 204, None, 12, max_attempts=8) == "delivered"

    [delivery] = uow.deliveries.rows.values()
    assert delivery.status == "delivered" and delivery.delivered_at is not None
    assert [sending.backoff(n) for n in (1, 2, 3, 8)] == [1.0, 4.0, 16.0, 16384.0]
    assert sending.backoff(20) == sending.RETRY_CAP_SECONDS


async def test_an_attempt_that_ends_after_its_subscription_ended_changes_nothing():
    uow = FakeUnitOfWork(actor=REGULATOR.actor)
    claimed = await one_claimed_delivery(uow)
    [sub] = uow.subscriptions.rows.values()
    await subscriptions.cases.end(uow, REGULATOR, sub.id)  # while the receiver was still answering

    await sending.record_attempt(uow, claimed, 204, None, 12, max_attempts=8)

    assert [d.status for d in uow.deliveries.rows.values()] == ["cancelled"] and uow.deliveries.attempts == []

"""Who follows which scheduling event, who may subscribe for whom, and the reminder of a hold
expiring soon, on the in-memory unit of work. Delivery over HTTP is in
tests/integration/scheduling/test_notifications.py."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.scheduling import bookings, events, subscriptions, webhooks
from shared import webhooks as sending
from shared.auth import Principal, Role
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.events import registry
from tests.unit.fakes import OutboxRow
from tests.unit.scheduling.fakes import FakeUnitOfWork, certified_site
from tests.unit.scheduling.test_bookings import asked

FACILITY, ELSEWHERE = str(uuid.uuid4()), str(uuid.uuid4())
DEVELOPER = Principal("dev-1", Role.DEVELOPER, org_id="ORG-1")
FACILITY_USER = Principal("qa-1", Role.FACILITY, facility_ids=frozenset({FACILITY}))
HELD = "gmphub.scheduling.booking.held.v1"


def row(seq: int, type_: str, data: dict) -> OutboxRow:
    return OutboxRow(seq, type_, f"key-{seq}", {"id": f"event-{seq}", "type": type_, "data": data}, datetime.now(UTC))


def booking_event(seq: int, org_id: str, facility_id: str, type_: str = HELD) -> OutboxRow:
    return row(seq, type_, {"booking_id": "b", "booking": {"org_id": org_id, "facility_id": facility_id}})


def test_an_event_concerns_the_org_and_facility_of_its_booking_agreement_or_entry_and_nothing_else():
    assert webhooks.parties(booking_event(1, "ORG-1", FACILITY).envelope) == ({"ORG-1"}, {FACILITY})
    capacity = row(2, "gmphub.scheduling.capacity.published.v1", {"facility_id": FACILITY, "slot_ids": []})
    assert webhooks.parties(capacity.envelope) == (set(), {FACILITY})
    entry = row(3, "gmphub.scheduling.waitlist.joined.v1", {"entry": {"org_id": "ORG-1", "criteria": {"facility_id": FACILITY}}})  # fmt: skip
    assert webhooks.parties(entry.envelope) == ({"ORG-1"}, set())  # what it waits for is not the facility's business
    # A request's events, and a quote's sending and acceptance, carry the request as sent to every
    # addressed facility: only the developer's organisation is told of them (a facility reads its
    # own part by the API).
    sent = {"request_id": "r", "request": {"org_id": "ORG-1", "facility_ids": [FACILITY, ELSEWHERE]}}
    assert webhooks.parties({"type": events.RequestSent.type, "data": sent}) == ({"ORG-1"}, set())
    quoted = {"request_id": "r", "quote_id": "q", "quote": {"facility_id": ELSEWHERE}} | sent
    assert webhooks.parties({"type": events.QuoteSent.type, "data": quoted}) == ({"ORG-1"}, set())
    assert not webhooks.visible_to(FACILITY_USER, row(5, "gmphub.scheduling.quote.sent.v1", quoted))
    # A quote's revision, decline, supersession or expiry names its own facility's quote alone.
    declined = {"request_id": "r", "quote_id": "q", "quote": {"facility_id": FACILITY}, "org_id": "ORG-1"}
    assert webhooks.parties({"type": events.QuoteDeclined.type, "data": declined}) == ({"ORG-1"}, {FACILITY})
    assert webhooks.visible_to(FACILITY_USER, row(6, "gmphub.scheduling.quote.declined.v1", declined))
    theirs = declined | {"quote": {"facility_id": ELSEWHERE}}
    assert not webhooks.visible_to(FACILITY_USER, row(7, "gmphub.scheduling.quote.declined.v1", theirs))
    # Each addressed facility is told of the request by its own copy, which it alone follows.
    copy = {"request_id": "r", "facility_id": FACILITY, "request": {"org_id": "ORG-1", "facility_ids": [FACILITY]}}
    received = row(8, events.RequestReceived.type, copy)
    assert webhooks.parties(received.envelope) == (set(), {FACILITY})
    assert webhooks.visible_to(FACILITY_USER, received) and not webhooks.visible_to(DEVELOPER, received)
    elsewhere = row(9, events.RequestReceived.type, copy | {"facility_id": ELSEWHERE})
    assert not webhooks.visible_to(FACILITY_USER, elsewhere)

    assert webhooks.visible_to(DEVELOPER, booking_event(1, "ORG-1", ELSEWHERE))
    assert not webhooks.visible_to(DEVELOPER, booking_event(1, "ORG-2", FACILITY))
    assert webhooks.visible_to(FACILITY_USER, booking_event(1, "ORG-2", FACILITY))
    assert webhooks.visible_to(FACILITY_USER, capacity) and not webhooks.visible_to(DEVELOPER, capacity)
    assert not webhooks.visible_to(Principal("i-1", Role.REGULATOR, authority="DE-PEI"), booking_event(1, "ORG-1", FACILITY))  # fmt: skip
    created = row(4, "gmphub.scheduling.subscription.created.v1", {"subscription": {"subscriber_org_id": "ORG-1"}})
    admin = Principal("op", Role.ADMIN)
    assert webhooks.visible_to(admin, capacity) and not webhooks.visible_to(admin, created)
    assert not any(t.split(".")[2] in ("subscription", "audit") for t in webhooks.FOLLOWABLE)
    assert {HELD, "gmphub.scheduling.booking.hold_expiring.v1"} <= set(webhooks.FOLLOWABLE)


def test_no_event_carrying_a_request_as_sent_tells_every_facility_it_names():
    carrying = [registry[t] for t in webhooks.FOLLOWABLE if "request" in registry[t].model_fields]
    assert events.RequestSent in carrying and events.QuoteAccepted in carrying
    assert all(getattr(cls, "audience", "parties") != "parties" for cls in carrying)


def test_who_subscribes_for_whom():
    assert subscriptions.subscriber(DEVELOPER, None, None) == {"org_id": "ORG-1"}
    assert subscriptions.subscriber(FACILITY_USER, None, None) == {"facility_id": uuid.UUID(FACILITY)}
    admin = Principal("op", Role.ADMIN)
    assert subscriptions.subscriber(admin, "ORG-7", None) == {"org_id": "ORG-7"}
    with pytest.raises(Forbidden):
        subscriptions.subscriber(DEVELOPER, "ORG-2", None)
    with pytest.raises(Forbidden):
        subscriptions.subscriber(FACILITY_USER, None, uuid.UUID(ELSEWHERE))
    with pytest.raises(Forbidden):
        subscriptions.subscriber(Principal("i-1", Role.REGULATOR, authority="DE-PEI"), None, None)
    two = Principal("qa-2", Role.FACILITY, facility_ids=frozenset({FACILITY, ELSEWHERE}))
    for principal, org_id, facility_id in (
        (two, None, None), (admin, None, None), (admin, "ORG-7", uuid.UUID(FACILITY)),
        (DEVELOPER, None, uuid.UUID(FACILITY)), (FACILITY_USER, "ORG-1", None),
    ):  # fmt: skip
        with pytest.raises(Unprocessable):
            subscriptions.subscriber(principal, org_id, facility_id)


async def test_each_event_goes_to_the_subscriptions_of_its_org_or_facility_that_follow_its_type():
    uow = FakeUnitOfWork(DEVELOPER.actor)
    url = "https://receiver.example.eu/hooks"
    org_held = await subscriptions.cases.subscribe(uow, url, [HELD], allow_private_targets=True, org_id="ORG-1")
    facility_all = await subscriptions.cases.subscribe(
        uow, url, [], allow_private_targets=True, facility_id=uuid.UUID(FACILITY)
    )
    uow.deliveries.outbox += [
        booking_event(1, "ORG-1", ELSEWHERE),
        booking_event(2, "ORG-2", FACILITY, "gmphub.scheduling.booking.cancelled.v1"),
        booking_event(3, "ORG-1", FACILITY, "gmphub.scheduling.booking.cancelled.v1"),
        booking_event(4, "ORG-2", ELSEWHERE),
        row(5, "gmphub.scheduling.subscription.created.v1", {"subscription": {"subscriber_org_id": "ORG-1"}}),
    ]

    assert await sending.fan_out(uow, None, webhooks.follows) == (5, 3)
    made = {(d.outbox_seq, d.subscription_id) for d in uow.deliveries.rows.values()}
    assert made == {(1, org_held.id), (2, facility_all.id), (3, facility_all.id)} and uow.deliveries.cursor == 5
    [claimed, *_] = await uow.deliveries.claim(10, timedelta(seconds=35))
    assert await sending.record_attempt(uow, claimed, 500, "HTTP 500", 9, max_attempts=8) == "retry"
    assert [type(e).__name__ for e in uow.events] == ["SubscriptionCreated", "SubscriptionCreated"]


async def test_without_a_subscription_the_fan_out_moves_on_and_a_later_one_gets_only_later_events():
    uow = FakeUnitOfWork(DEVELOPER.actor)
    uow.deliveries.outbox += [booking_event(1, "ORG-1", FACILITY), booking_event(2, "ORG-1", FACILITY)]
    assert await sending.fan_out(uow, None, webhooks.follows) == (2, 0) and uow.deliveries.cursor == 2
    later = await subscriptions.cases.subscribe(
        uow, "https://r.example.eu/h", [], allow_private_targets=True, org_id="ORG-1"
    )
    uow.deliveries.outbox.append(booking_event(3, "ORG-1", FACILITY)._replace(created_at=datetime.now(UTC)))
    assert await sending.fan_out(uow, None, webhooks.follows) == (1, 1)
    assert [(d.outbox_seq, d.subscription_id) for d in uow.deliveries.rows.values()] == [(3, later.id)]


async def test_subscriptions_are_rotated_and_ended_only_by_their_subscribers_and_each_is_an_event():
    uow = FakeUnitOfWork(FACILITY_USER.actor)
    sub = await subscriptions.cases.subscribe(
        uow, "https://qa.example.eu/h", [], allow_private_targets=True, facility_id=uuid.UUID(FACILITY)
    )
    with pytest.raises(NotFound):
        await subscriptions.cases.rotate(uow, DEVELOPER, sub.id, timedelta(hours=1))
    old = sub.secret
    _, new = await subscriptions.cases.rotate(uow, FACILITY_USER, sub.id, timedelta(hours=1))
    assert new != old and sub.previous_secret == old
    await subscriptions.cases.end(uow, FACILITY_USER, sub.id)
    await subscriptions.cases.end(uow, FACILITY_USER, sub.id)  # again: nothing more
    with pytest.raises(Conflict):
        await subscriptions.cases.rotate(uow, FACILITY_USER, sub.id, timedelta(hours=1))
    assert [type(e).__name__ for e in uow.events] == ["SubscriptionCreated", "SubscriptionSecretRotated", "SubscriptionEnded"]  # fmt: skip
    assert uow.events[0].subscription.subscriber_facility_id == uuid.UUID(FACILITY)


async def test_a_hold_expiring_within_the_reminder_time_is_told_once_per_expiry():
    uow = FakeUnitOfWork(DEVELOPER.actor)
    first, second, _ = certified_site(uow.store).slots
    await bookings.hold(uow, "ORG-1", asked(first), hold_ttl_seconds=120)
    await bookings.hold(uow, "ORG-1", asked(second), hold_ttl_seconds=900)
    soon, later = sorted(uow.store.bookings.values(), key=lambda b: b.hold_expires_at)

    reminded = await bookings.remind_expiring_holds(uow, reminder_seconds=300)
    assert reminded == [soon.id]
    assert await bookings.remind_expiring_holds(uow, reminder_seconds=300) == []
    [event] = [e for e in uow.events if isinstance(e, events.BookingHoldExpiring)]
    assert event.booking_id == soon.id and event.hold_expires_at == soon.hold_expires_at
    assert soon.version == 1  # a reminder changes no booking

    soon.hold_expires_at += timedelta(seconds=60)  # a fresh hold time (materials short) is told again
    later.hold_expires_at = datetime.now(UTC) - timedelta(seconds=1)  # expired already: nothing to remind
    assert await bookings.remind_expiring_holds(uow, reminder_seconds=300) == [soon.id]

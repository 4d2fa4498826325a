"""The waitlist on an in-memory unit of work: joining, leaving, and the first in line getting a hold
on a matching slot that opens (at once when one is open already)."""

import uuid

import pytest

from services.scheduling import bookings, events, waitlist
from services.scheduling.schemas import BookingIn, WaitlistIn
from shared.auth import Principal, Role
from shared.errors import Conflict, NotFound
from tests.unit.scheduling.fakes import FakeUnitOfWork, Site, approval, certified_site

TTL = 900
DEVELOPER = Principal("dev-1", Role.DEVELOPER, org_id="ORG-1")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(DEVELOPER.actor)


@pytest.fixture
def site(uow: FakeUnitOfWork) -> Site:
    return certified_site(uow.store, country="DE", slots=2)


def wanting(**criteria) -> WaitlistIn:
    return WaitlistIn.model_validate({"product": "AAV9-SMN1", "run_kind": "development", **criteria})


async def test_joining_with_nothing_open_waits_in_line(uow, site):
    entry = await waitlist.join(uow, "ORG-1", wanting(country="FR"), TTL)
    assert (entry.status, entry.org_id, entry.booking_id, entry.created_by) == (
        "waiting",
        "ORG-1",
        None,
        DEVELOPER.actor,
    )
    [joined] = uow.events
    assert isinstance(joined, events.WaitlistJoined) and joined.entry.criteria == {"country": "FR"}
    assert [s.status for s in site.slots] == ["open", "open"]


async def test_joining_while_a_matching_slot_is_open_holds_the_earliest_at_once(uow, site):
    entry = await waitlist.join(uow, "ORG-1", wanting(country="DE", cleanroom_grade="B"), TTL)
    assert uow.types() == ["waitlist.joined", "waitlist.hold_offered"]
    offer = uow.events[1]
    booking = uow.store.bookings[offer.booking_id]
    assert (entry.status, entry.booking_id, offer.waitlist_entry_id) == ("offered", booking.id, entry.id)
    assert (booking.status, booking.slot_ids, booking.waitlist_entry_id) == ("held", [site.slots[0].id], entry.id)
    assert (site.slots[0].status, site.slots[1].status) == ("held", "open")
    assert offer.hold_expires_at == booking.hold_expires_at


async def test_an_opened_slot_goes_to_the_oldest_matching_entry(uow, site):
    for slot in site.slots:
        slot.status = "blocked"
    elsewhere = await waitlist.join(uow, "ORG-3", wanting(country="FR"), TTL)
    first = await waitlist.join(uow, "ORG-1", wanting(suite_id=str(site.suite_id)), TTL)
    second = await waitlist.join(uow, "ORG-2", wanting(), TTL)
    for slot in site.slots:
        slot.status = "open"
    offers = await waitlist.offer_opened_slots(uow.next(), [site.slots[1].id], TTL)
    assert [b.waitlist_entry_id for b in offers] == [first.id]
    assert (elsewhere.status, first.status, second.status) == ("waiting", "offered", "waiting")


async def test_a_cancelled_booking_offers_its_slot_to_the_line(uow, site):
    request = BookingIn(slot_ids=[site.slots[0].id], product="CAR-T CD19", run_kind="development")
    outcome = await bookings.hold(uow, "ORG-1", request, hold_ttl_seconds=TTL)
    site.slots[1].status = "booked"  # nothing else is open
    entry = await waitlist.join(uow, "ORG-2", wanting(), TTL)
    assert entry.status == "waiting"
    cancelling = uow.next()
    await bookings.cancel(cancelling, DEVELOPER, uuid.UUID(outcome.answer["booking_id"]), None, TTL)
    assert cancelling.types() == ["booking.cancelled", "waitlist.hold_offered"]
    assert (entry.status, site.slots[0].booking_id) == ("offered", entry.booking_id)


async def test_an_entry_whose_approval_no_longer_fits_keeps_its_place(uow, site):
    for slot in site.slots:
        slot.status = "booked"
    suspended = approval(uow.store, "ORG-1", site.facility_id, status="suspended")
    clinical = await waitlist.join(uow, "ORG-1", wanting(run_kind="clinical", approval_id=str(suspended)), TTL)
    plain = await waitlist.join(uow, "ORG-2", wanting(), TTL)
    site.slots[0].status = "open"
    await waitlist.offer_opened_slots(uow, [site.slots[0].id], TTL)
    assert (clinical.status, plain.status) == ("waiting", "offered")


async def test_leaving_the_line(uow, site):
    for slot in site.slots:
        slot.status = "booked"
    entry = await waitlist.join(uow, "ORG-1", wanting(), TTL)
    with pytest.raises(NotFound):
        await waitlist.leave(uow.next(), entry.id, "ORG-2")
    leaving = uow.next()
    await waitlist.leave(leaving, entry.id, "ORG-1")
    assert entry.status == "cancelled" and leaving.types() == ["waitlist.left"]
    assert leaving.events[0].entry == events.WaitlistEntryState.model_validate(entry, from_attributes=True)
    with pytest.raises(Conflict, match="only a waiting entry"):
        await waitlist.leave(uow.next("admin:op"), entry.id, None)

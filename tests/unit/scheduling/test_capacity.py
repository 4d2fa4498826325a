"""Capacity on an in-memory unit of work: a facility publishes slots on its suite, blocks, withdraws
and reopens them; what opens goes to the waitlist first."""

import uuid
from datetime import timedelta

import pytest

from services.scheduling import capacity, events, models, waitlist
from services.scheduling.domain import Period
from services.scheduling.schemas import WaitlistIn
from shared.errors import Conflict, NotFound, Unprocessable
from tests.unit.scheduling.fakes import FakeUnitOfWork, Site, certified_site

TTL = 900


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork("facility:qa-1")


@pytest.fixture
def site(uow: FakeUnitOfWork) -> Site:
    return certified_site(uow.store, slots=1)


def after(site: Site, *hours: int) -> list[Period]:
    """Periods of 8 hours beginning `hours` after the end of the site's last slot."""
    end = site.slots[-1].ends_at
    return [Period(end + timedelta(hours=h), end + timedelta(hours=h + 8)) for h in hours]


async def test_published_slots_are_open_and_announced(uow, site):
    slots = await capacity.publish(uow, site.facility_id, site.suite_id, after(site, 8, 0), TTL)
    assert [s.status for s in slots] == ["open", "open"] and slots[0].starts_at < slots[1].starts_at
    assert {s.id for s in slots} <= set(uow.store.slots) and slots[0].created_by == "facility:qa-1"
    [published] = uow.events
    assert isinstance(published, events.CapacityPublished)
    assert published.slot_ids == [s.id for s in slots]
    assert (published.first_start, published.last_end) == (slots[0].starts_at, slots[1].ends_at)


async def test_a_published_slot_a_developer_waits_for_is_held_for_them(uow, site):
    site.slots[0].status = "booked"
    entry = await waitlist.join(uow, "ORG-1", WaitlistIn(product="CAR-T CD19", run_kind="development"), TTL)
    publishing = uow.next()
    slots = await capacity.publish(publishing, site.facility_id, site.suite_id, after(site, 0, 8), TTL)
    assert [s.status for s in slots] == ["held", "open"] and entry.status == "offered"
    assert publishing.types() == ["capacity.published", "waitlist.hold_offered"]


async def test_publishing_is_refused_on_a_suite_that_cannot_take_it(uow, site):
    other = certified_site(uow.store, slots=0)
    with pytest.raises(NotFound, match="has no suite"):
        await capacity.publish(uow, site.facility_id, other.suite_id, after(site, 0), TTL)
    with pytest.raises(Conflict, match="overlaps the existing slot"):
        await capacity.publish(uow, site.facility_id, site.suite_id, after(site, -4), TTL)
    with pytest.raises(Unprocessable, match="in the past"):
        past = site.slots[0].starts_at - timedelta(days=30)
        await capacity.publish(uow, site.facility_id, site.suite_id, [Period(past, past + timedelta(hours=8))], TTL)
    site.certificate.status = "suspended"
    with pytest.raises(Conflict, match="no valid GMP certificate"):
        await capacity.publish(uow, site.facility_id, site.suite_id, after(site, 0), TTL)
    uow.store.views[(models.SuiteView, site.suite_id)].retired = True
    with pytest.raises(Conflict, match="retired"):
        await capacity.publish(uow, site.facility_id, site.suite_id, after(site, 0), TTL)
    assert uow.events == [] and list(uow.store.slots) == site.slot_ids


async def test_blocking_withdrawing_and_reopening_move_slots_all_or_nothing(uow, site):
    slots = await capacity.publish(uow, site.facility_id, site.suite_id, after(site, 0, 8, 16), TTL)
    ids = [s.id for s in slots]
    changing = uow.next()
    assert await capacity.change_slots(changing, site.facility_id, ids[:2], "block", "Maintenance", TTL) == ids[:2]
    assert [s.status for s in slots] == ["blocked", "blocked", "open"] and slots[0].status_reason == "Maintenance"
    assert await capacity.change_slots(changing, site.facility_id, ids[1:], "withdraw", None, TTL) == ids[1:]
    assert [s.status for s in slots] == ["blocked", "withdrawn", "withdrawn"]
    with pytest.raises(Conflict, match="only blocked slots can be reopened"):
        await capacity.change_slots(changing, site.facility_id, ids[:2], "reopen", None, TTL)
    assert await capacity.change_slots(changing, site.facility_id, ids[:1], "reopen", None, TTL) == ids[:1]
    assert changing.types() == ["slots.withdrawn", "slots.withdrawn", "slots.reopened"]
    assert [e.status for e in changing.events[:2]] == ["blocked", "withdrawn"]
    assert slots[0].status == "open"


async def test_a_held_slot_or_another_facility_s_slot_is_not_changed(uow, site):
    site.slots[0].status = "held"
    with pytest.raises(Conflict, match="Cancel its booking first"):
        await capacity.change_slots(uow, site.facility_id, [site.slots[0].id], "block", None, TTL)
    other = certified_site(uow.store)
    with pytest.raises(NotFound, match="has no slots"):
        await capacity.change_slots(uow, site.facility_id, [other.slots[0].id, uuid.uuid4()], "block", None, TTL)
    assert uow.events == [] and other.slots[0].status == "open"


async def test_slots_of_two_suites_are_changed_one_suite_at_a_time(uow, site):
    second_suite = certified_site(uow.store, slots=1)
    second_suite.slots[0].facility_id = site.facility_id
    with pytest.raises(Unprocessable, match="one suite at a time"):
        await capacity.change_slots(
            uow, site.facility_id, [site.slots[0].id, second_suite.slots[0].id], "block", None, TTL
        )


async def test_a_reopened_slot_goes_to_the_waitlist(uow, site):
    await capacity.change_slots(uow, site.facility_id, [site.slots[0].id], "block", None, TTL)
    entry = await waitlist.join(uow, "ORG-1", WaitlistIn(product="CAR-T CD19", run_kind="development"), TTL)
    reopening = uow.next()
    await capacity.change_slots(reopening, site.facility_id, [site.slots[0].id], "reopen", None, TTL)
    assert reopening.types() == ["slots.reopened", "waitlist.hold_offered"] and entry.status == "offered"

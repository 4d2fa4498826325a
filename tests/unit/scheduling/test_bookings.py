"""The booking use cases on an in-memory unit of work: what each one changes and announces, and
what it refuses. Holding races are for tests/integration/scheduling/test_race.py."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from services.scheduling import bookings, events, inbound, models
from services.scheduling.domain import BookingStatus, SlotStatus
from services.scheduling.schemas import BookingIn
from shared.auth import Principal, Role
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from tests.unit.scheduling.fakes import FakeUnitOfWork, Site, approval, certified_site, facility_user

TTL = 900
DEVELOPER = Principal("dev-1", Role.DEVELOPER, org_id="ORG-1")
OTHER_DEVELOPER = Principal("dev-9", Role.DEVELOPER, org_id="ORG-9")
NEED = {"material_id": str(uuid.uuid4()), "quantity": "2.5", "unit": "mL"}


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(DEVELOPER.actor)


@pytest.fixture
def site(uow: FakeUnitOfWork) -> Site:
    return certified_site(uow.store)


def asked(*slots: models.Slot, **fields) -> BookingIn:
    return BookingIn.model_validate(
        {"slot_ids": [s.id for s in slots], "product": "CAR-T CD19", "run_kind": "development", **fields}
    )


async def held(uow: FakeUnitOfWork, *slots: models.Slot, **fields) -> models.Booking:
    outcome = await bookings.hold(uow, "ORG-1", asked(*slots, **fields), hold_ttl_seconds=TTL)
    return uow.store.bookings[uuid.UUID(outcome.answer["booking_id"])]


# --- holding ------------------------------------------------------------------------------------


async def test_a_hold_claims_open_slots_of_one_suite_until_it_expires(uow, site):
    first, second, _ = site.slots
    outcome = await bookings.hold(uow, "ORG-1", asked(second, first), hold_ttl_seconds=TTL)

    booking = uow.store.bookings[uuid.UUID(outcome.answer["booking_id"])]
    assert (booking.status, booking.org_id, booking.created_by) == ("held", "ORG-1", DEVELOPER.actor)
    assert booking.slot_ids == [first.id, second.id]  # in the order of time
    assert (booking.starts_at, booking.ends_at) == (first.starts_at, second.ends_at)
    assert booking.hold_expires_at - models.now() == pytest.approx(timedelta(seconds=TTL), abs=timedelta(seconds=5))
    assert [(s.status, s.booking_id) for s in (first, second)] == [("held", booking.id)] * 2
    [event] = uow.events
    assert isinstance(event, events.BookingHeld) and event.hold_expires_at == booking.hold_expires_at
    assert event.booking == events.BookingState.model_validate(booking, from_attributes=True)
    assert (outcome.answer["status"], outcome.replayed) == ("held", False)


async def test_a_hold_refuses_slots_it_cannot_have_and_changes_nothing(uow, site):
    first, second, third = site.slots
    other_suite = certified_site(uow.store).slots[0]
    third.status = SlotStatus.BLOCKED.value
    refusals = [
        ([first, first], Unprocessable, "listed twice"),
        ([first, other_suite], Unprocessable, "one suite only"),
        ([third], Conflict, "is blocked, not open"),
    ]
    for slots, problem, words in refusals:
        with pytest.raises(problem, match=words):
            await bookings.hold(uow, "ORG-1", asked(*slots), hold_ttl_seconds=TTL)
    unknown = models.Slot(**second.model_dump(exclude={"id"}))
    with pytest.raises(NotFound, match=str(unknown.id)):
        await bookings.hold(uow, "ORG-1", asked(second, unknown), hold_ttl_seconds=TTL)
    assert (first.status, second.status) == ("open", "open")
    assert uow.store.bookings == {} and uow.events == []


async def test_a_retired_suite_or_an_uncertified_facility_is_not_booked(uow, site):
    site.certificate.status = "suspended"
    with pytest.raises(Conflict, match="no valid GMP certificate"):
        await held(uow, site.slots[0])
    uow.store.views[(models.SuiteView, site.suite_id)].retired = True
    with pytest.raises(Conflict, match="retired"):
        await held(uow, site.slots[0])
    assert uow.events == []


async def test_a_clinical_run_is_held_only_on_an_approval_of_the_org_that_covers_the_facility(uow, site):
    with pytest.raises(Unprocessable, match="needs approval_id"):
        await held(uow, site.slots[0], run_kind="clinical")
    elsewhere = approval(uow.store, "ORG-1", uuid.uuid4())
    with pytest.raises(Unprocessable, match="does not cover"):
        await held(uow, site.slots[0], run_kind="clinical", approval_id=elsewhere)
    pending = approval(uow.store, "ORG-1", site.facility_id, status="under_review")
    with pytest.raises(Conflict, match="needs it approved"):
        await held(uow, site.slots[0], run_kind="clinical", approval_id=pending)
    approved = approval(uow.store, "ORG-1", site.facility_id)
    booking = await held(uow, site.slots[0], run_kind="clinical", approval_id=approved)
    assert (booking.run_kind, booking.approval_id) == ("clinical", approved)


async def test_a_hold_is_flagged_at_once_when_a_needed_material_is_short_where_the_facility_is(uow, site):
    uow.store.put(
        models.ShortageView(
            shortage_id=uuid.uuid4(),
            material_id=uuid.UUID(NEED["material_id"]),
            material_name="TexMACS",
            version=1,
            status="active",
            severity="high",
            regions=["EU"],
            reason="Recall",
        )
    )
    booking = await held(uow, site.slots[0], material_needs=[NEED])
    assert booking.at_risk_reasons == ["TexMACS is short (high): Recall"]
    assert uow.events[0].booking.at_risk_reasons == booking.at_risk_reasons


# --- Idempotency-Key ------------------------------------------------------------------------------


async def test_a_retry_with_the_same_key_gets_the_first_answer_and_holds_nothing_more(uow, site):
    first = await bookings.hold(uow, "ORG-1", asked(site.slots[0]), hold_ttl_seconds=TTL, idempotency_key="k-1")
    retry = uow.next("developer:dev-2")  # a colleague of the same organisation, a later transaction
    again = await bookings.hold(retry, "ORG-1", asked(site.slots[0]), hold_ttl_seconds=TTL, idempotency_key="k-1")
    assert (again.answer, again.replayed) == (first.answer, True)
    assert len(uow.store.bookings) == 1 and retry.events == []
    with pytest.raises(Unprocessable, match="different request body"):
        await bookings.hold(retry, "ORG-1", asked(site.slots[1]), hold_ttl_seconds=TTL, idempotency_key="k-1")
    other_org = await bookings.hold(retry, "ORG-2", asked(site.slots[1]), hold_ttl_seconds=TTL, idempotency_key="k-1")
    assert not other_org.replayed  # keys are per organisation


async def test_a_refused_request_leaves_its_key_free_for_a_retry(uow, site):
    slot = site.slots[0]
    slot.status = SlotStatus.BLOCKED.value
    with pytest.raises(Conflict):
        await bookings.hold(uow, "ORG-1", asked(slot), hold_ttl_seconds=TTL, idempotency_key="k-2")
    slot.status = SlotStatus.OPEN.value  # the facility reopened it
    retry = await bookings.hold(uow.next(), "ORG-1", asked(slot), hold_ttl_seconds=TTL, idempotency_key="k-2")
    assert (retry.answer["status"], retry.replayed) == ("held", False)


# --- confirming and the materials saga ----------------------------------------------------------


async def test_confirming_asks_materials_to_reserve_and_stops_the_hold_clock(uow, site):
    booking = await held(uow, site.slots[0], material_needs=[NEED])
    confirming = uow.next()
    await bookings.confirm(confirming, DEVELOPER, booking.id)
    assert (booking.status, booking.hold_expires_at, booking.materials_attempts) == ("held", None, 1)
    assert booking.materials_requested_at is not None and booking.version == 2
    [event] = confirming.events
    assert isinstance(event, events.BookingConfirmed) and (event.attempt, event.booking.version) == (1, 2)
    await bookings.confirm(confirming, DEVELOPER, booking.id)
    assert len(confirming.events) == 1  # a repeat changes nothing


async def test_a_booking_needing_no_materials_is_confirmed_at_once_and_books_its_slots(uow, site):
    booking = await held(uow, site.slots[0])
    confirming = uow.next()
    await bookings.confirm(confirming, DEVELOPER, booking.id)
    assert confirming.types() == ["booking.confirmed", "booking.materials_reserved"]
    assert [e.booking.version for e in confirming.events] == [2, 3]
    assert booking.status == "confirmed" and site.slots[0].status == "booked"


async def test_only_the_developer_org_confirms_and_only_while_the_facility_is_certified(uow, site):
    booking = await held(uow, site.slots[0])
    with pytest.raises(NotFound):  # another org's booking is not revealed
        await bookings.confirm(uow, OTHER_DEVELOPER, booking.id)
    with pytest.raises(Forbidden):
        await bookings.confirm(uow, facility_user(site), booking.id)
    site.certificate.status = "revoked"
    with pytest.raises(Conflict, match="no valid GMP certificate now"):
        await bookings.confirm(uow, DEVELOPER, booking.id)
    assert booking.status == "held" and uow.types() == ["booking.held"]


async def test_reserved_materials_confirm_the_booking_and_a_late_answer_changes_nothing(uow, site):
    booking = await held(uow, site.slots[0], material_needs=[NEED])
    await bookings.confirm(uow, DEVELOPER, booking.id)
    answer = uow.next("service:scheduling")
    await bookings.on_reservation_confirmed(answer, inbound.ReservationConfirmed(booking_id=booking.id))
    assert booking.status == "confirmed" and site.slots[0].status == "booked"
    assert answer.types() == ["booking.materials_reserved"]
    late = uow.next("service:scheduling")
    await bookings.on_reservation_confirmed(late, inbound.ReservationConfirmed(booking_id=booking.id))
    await bookings.on_reservation_confirmed(late, inbound.ReservationConfirmed(booking_id=uuid.uuid4()))
    assert late.events == []


async def test_short_materials_give_the_booking_a_fresh_hold(uow, site):
    booking = await held(uow, site.slots[0], material_needs=[NEED])
    await bookings.confirm(uow, DEVELOPER, booking.id)
    shortfall = inbound.Shortfall(material_id=NEED["material_id"], requested=Decimal("2.5"), available=1, unit="mL")
    answer = uow.next("service:scheduling")
    await bookings.on_reservation_failed(
        answer, inbound.ReservationFailed(booking_id=booking.id, shortfalls=[shortfall]), hold_ttl_seconds=60
    )
    assert booking.status == "materials_short" and booking.materials_requested_at is None
    assert booking.shortfalls == [shortfall.model_dump(mode="json")]
    assert booking.hold_expires_at - models.now() == pytest.approx(timedelta(seconds=60), abs=timedelta(seconds=5))
    assert answer.types() == ["booking.materials_short"] and site.slots[0].status == "held"


async def test_an_unanswered_request_is_sent_again_and_escalated_once_after_the_last_attempt(uow, site):
    booking = await held(uow, site.slots[0], material_needs=[NEED])
    await bookings.confirm(uow, DEVELOPER, booking.id)
    assert await bookings.ask_materials_again(uow.next(), retry_seconds=30, max_attempts=2) == []  # not yet due
    booking.materials_asked_at -= timedelta(seconds=31)
    saga = uow.next("service:scheduling-saga")
    assert await bookings.ask_materials_again(saga, retry_seconds=30, max_attempts=2) == [booking.id]
    assert saga.types() == ["booking.confirmed"] and saga.events[0].attempt == 2
    assert booking.version == 2  # the same confirmation asked again: materials knows it
    booking.materials_asked_at -= timedelta(seconds=31)
    saga = uow.next("service:scheduling-saga")
    await bookings.ask_materials_again(saga, retry_seconds=30, max_attempts=2)
    assert saga.types() == ["booking.escalated", "booking.confirmed"]
    assert (saga.events[0].attempts, saga.events[0].awaiting_since) == (2, booking.materials_requested_at)
    assert booking.materials_overdue_since is not None and booking.materials_attempts == 3


# --- cancelling, completing, expiring -----------------------------------------------------------


async def test_cancelling_frees_the_slots_and_the_facility_must_say_why(uow, site):
    mine = await held(uow, site.slots[0])
    theirs = await held(uow, site.slots[1])
    cancelling = uow.next()
    await bookings.cancel(cancelling, DEVELOPER, mine.id, None, TTL)
    assert (mine.status, site.slots[0].status, site.slots[0].booking_id) == ("cancelled", "open", None)
    assert cancelling.types() == ["booking.cancelled"] and cancelling.events[0].reason is None
    facility = uow.next(facility_user(site).actor)
    with pytest.raises(Unprocessable, match="needs a reason"):
        await bookings.cancel(facility, facility_user(site), theirs.id, " ", TTL)
    await bookings.cancel(facility, facility_user(site), theirs.id, "Cleanroom maintenance", TTL)
    assert (theirs.status, theirs.cancel_reason, theirs.updated_by) == (
        "cancelled",
        "Cleanroom maintenance",
        "facility:qa-1",
    )
    with pytest.raises(NotFound):
        await bookings.cancel(uow.next(), OTHER_DEVELOPER, theirs.id, None, TTL)


async def test_the_facility_completes_a_confirmed_run_once_it_has_started(uow, site):
    booking = await held(uow, site.slots[0])
    await bookings.confirm(uow, DEVELOPER, booking.id)
    with pytest.raises(Forbidden):
        await bookings.complete(uow, DEVELOPER, booking.id)
    with pytest.raises(Conflict, match="once it has started"):
        await bookings.complete(uow, facility_user(site), booking.id)
    booking.starts_at = models.now() - timedelta(hours=1)
    completing = uow.next()
    await bookings.complete(completing, facility_user(site), booking.id)
    assert booking.status == "completed" and completing.types() == ["booking.completed"]


async def test_overdue_holds_expire_and_free_their_slots_and_nothing_else_does(uow, site):
    overdue = await held(uow, site.slots[0])
    running = await held(uow, site.slots[1])
    awaiting = await held(uow, site.slots[2], material_needs=[NEED])
    await bookings.confirm(uow, DEVELOPER, awaiting.id)
    overdue.hold_expires_at = models.now() - timedelta(seconds=1)
    job = uow.next("service:scheduling-hold-expiry")
    assert await bookings.expire_overdue_holds(job, TTL) == [overdue.id]
    assert (overdue.status, overdue.hold_expires_at, site.slots[0].status) == ("expired", None, "open")
    assert job.types() == ["booking.expired"] and job.events[0].booking.status == "expired"
    assert (running.status, awaiting.status) == (BookingStatus.HELD, BookingStatus.HELD)

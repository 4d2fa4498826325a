"""The materials side of the booking saga on the in-memory unit of work: a confirmed booking
reserves all its needs from the facility's lots or none; asked again, materials sends the answer
it gave; a cancelled booking gives its stock back and a completed one uses it up."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from services.materials import catalogue, events, inbound, inventory, models
from services.materials.domain import Category, Grade, MaterialEntry, Origin, QualityAttributes, ReservationStatus
from shared.problems import Conflict
from tests.unit.materials.fakes import FakeUnitOfWork

FACILITY = uuid.uuid4()
GMP = QualityAttributes(grade=Grade.GMP, origin=Origin.ANIMAL_ORIGIN_FREE)


async def stocked() -> tuple[FakeUnitOfWork, models.Material, models.Material]:
    """A catalogue with a medium and a cytokine, and no lots yet."""
    uow = FakeUnitOfWork("service:materials")
    medium, _ = await catalogue.register_material(uow, MaterialEntry("TexMACS", Category.CELL_CULTURE_MEDIUM, GMP))
    cytokine, _ = await catalogue.register_material(uow, MaterialEntry("IL-2", Category.CYTOKINE_GROWTH_FACTOR, GMP))
    return uow, medium, cytokine


async def lot(uow, material, quantity, number, *, expires_in_days=365, unit="mL", facility=FACILITY) -> models.Lot:
    expires_on = models.today() + timedelta(days=expires_in_days)
    return await inventory.record_lot(uow, facility, material.id, number, expires_on, Decimal(quantity), unit)


def confirmed(*needs, version=2, starts_in_days=30, booking_id=None) -> inbound.BookingConfirmed:
    booking = inbound.Booking(
        version=version, facility_id=FACILITY, starts_at=models.now() + timedelta(days=starts_in_days),
        material_needs=[inbound.MaterialNeed(material_id=m.id, quantity=Decimal(q), unit=u) for m, q, u in needs],
    )  # fmt: skip
    return inbound.BookingConfirmed(booking_id=booking_id or uuid.uuid4(), booking=booking)


def reserved_line(lot: models.Lot, quantity: str) -> events.ReservedLine:
    return events.ReservedLine(
        material_id=lot.material_id, lot_id=lot.id, lot_number=lot.lot_number, quantity=Decimal(quantity), unit=lot.unit
    )


async def answers(uow, handle, event) -> list:
    """The events `handle` emits for `event`."""
    before = len(uow.events)
    await handle(uow, event)
    return uow.events[before:]


async def test_a_confirmed_booking_reserves_earliest_expiry_first_across_lots():
    uow, medium, _ = await stocked()
    late = await lot(uow, medium, "500", "LATE", expires_in_days=400)
    soon = await lot(uow, medium, "300.5", "SOON", expires_in_days=100)
    elsewhere = await lot(uow, medium, "9999", "ELSEWHERE", facility=uuid.uuid4())
    booking = confirmed((medium, "400.25", "mL"))

    [answer] = await answers(uow, inventory.reserve_for_booking, booking)

    reservation = await uow.reservations.of_booking(booking.booking_id)
    assert (reservation.status, reservation.booking_version, reservation.facility_id) == ("confirmed", 2, FACILITY)
    assert answer == events.ReservationConfirmed(
        booking_id=booking.booking_id, reservation_id=reservation.id, facility_id=FACILITY,
        lines=[reserved_line(soon, "300.5"), reserved_line(late, "99.75")],
    )  # fmt: skip
    assert (soon.reserved, late.reserved, elsewhere.reserved) == (Decimal("300.5"), Decimal("99.75"), 0)
    lines = await uow.reservations.lines(reservation.id)
    assert sorted((line.lot_id, line.quantity) for line in lines) == sorted(
        [(soon.id, Decimal("300.5")), (late.id, Decimal("99.75"))]
    )


async def test_one_short_material_fails_the_whole_booking_and_reserves_nothing():
    uow, medium, cytokine = await stocked()
    medium_lot = await lot(uow, medium, "1000", "M1")
    await lot(uow, cytokine, "40", "C1", unit="µg")
    booking = confirmed((medium, "500", "mL"), (cytokine, "50", "ug"))

    [answer] = await answers(uow, inventory.reserve_for_booking, booking)

    shortfall = events.Shortfall(material_id=cytokine.id, requested=Decimal(50), available=Decimal(40), unit="µg")
    assert answer == events.ReservationFailed(
        booking_id=booking.booking_id, facility_id=FACILITY, shortfalls=[shortfall]
    )
    reservation = await uow.reservations.of_booking(booking.booking_id)
    assert reservation.status == ReservationStatus.FAILED
    assert reservation.shortfalls == [shortfall.model_dump(mode="json")]
    assert medium_lot.reserved == 0 and await uow.reservations.lines(reservation.id) == []


async def test_lots_that_expire_before_the_run_and_needs_in_incomparable_units_fall_short():
    uow, medium, cytokine = await stocked()
    await lot(uow, medium, "1000", "EARLY", expires_in_days=10)
    await lot(uow, cytokine, "1000", "C1", unit="µg")
    booking = confirmed((medium, "1", "mL"), (cytokine, "1", "µg"), (cytokine, "1", "mL"), starts_in_days=30)

    [answer] = await answers(uow, inventory.reserve_for_booking, booking)

    assert [(s.material_id, s.requested, s.available) for s in answer.shortfalls] == [
        (medium.id, 1, 0), (cytokine.id, 1, 0), (cytokine.id, 1, 0)
    ]  # fmt: skip


async def test_asked_again_materials_sends_the_answer_it_gave_and_changes_nothing():
    uow, medium, cytokine = await stocked()
    first = await lot(uow, medium, "10", "M1", expires_in_days=100)
    second = await lot(uow, medium, "10", "M2", expires_in_days=200)
    booking = confirmed((medium, "15", "mL"))
    short = confirmed((cytokine, "1", "µg"))
    [given] = await answers(uow, inventory.reserve_for_booking, booking)
    [refused] = await answers(uow, inventory.reserve_for_booking, short)

    assert await answers(uow, inventory.reserve_for_booking, booking) == [given]
    assert await answers(uow, inventory.reserve_for_booking, short) == [refused]
    assert (first.reserved, second.reserved) == (10, 5)
    assert len(uow.reservations.rows) == 2 and len(uow.reservations.line_rows) == 2


async def test_a_newer_version_of_a_refused_booking_is_tried_again():
    uow, medium, _ = await stocked()
    booking = confirmed((medium, "5", "mL"))
    await inventory.reserve_for_booking(uow, booking)
    stock = await lot(uow, medium, "10", "M1")

    [same_version] = await answers(uow, inventory.reserve_for_booking, booking)
    newer = confirmed((medium, "5", "mL"), version=3, booking_id=booking.booking_id)
    [answer] = await answers(uow, inventory.reserve_for_booking, newer)

    assert isinstance(same_version, events.ReservationFailed)  # the stored answer, though stock came since
    assert isinstance(answer, events.ReservationConfirmed) and stock.reserved == 5
    reservation = await uow.reservations.of_booking(booking.booking_id)
    assert (reservation.status, reservation.booking_version, reservation.shortfalls) == ("confirmed", 3, [])
    assert len(uow.reservations.rows) == 1  # one reservation per booking


async def test_a_cancelled_booking_gives_its_stock_back_once():
    uow, medium, _ = await stocked()
    stock = await lot(uow, medium, "10", "M1")
    booking = confirmed((medium, "4", "mL"))
    await inventory.reserve_for_booking(uow, booking)
    cancelled = inbound.BookingCancelled(booking_id=booking.booking_id)

    [answer] = await answers(uow, inventory.release_for_booking, cancelled)

    reservation = await uow.reservations.of_booking(booking.booking_id)
    assert answer == events.ReservationReleased(
        booking_id=booking.booking_id, reservation_id=reservation.id, facility_id=FACILITY
    )
    assert (reservation.status, stock.reserved, stock.quantity) == ("released", 0, 10)
    assert await answers(uow, inventory.release_for_booking, cancelled) == []
    assert await answers(uow, inventory.reserve_for_booking, booking) == []  # the booking has moved on
    assert await answers(uow, inventory.release_for_booking, inbound.BookingCancelled(booking_id=uuid.uuid4())) == []


async def test_a_completed_booking_uses_its_reserved_stock_up():
    uow, medium, _ = await stocked()
    stock = await lot(uow, medium, "10", "M1")
    booking = confirmed((medium, "4", "mL"))
    [reserved] = await answers(uow, inventory.reserve_for_booking, booking)
    completed = inbound.BookingCompleted(booking_id=booking.booking_id)

    recorded, consumed = await answers(uow, inventory.consume_for_booking, completed)

    assert (stock.quantity, stock.reserved, stock.version, stock.updated_by) == (6, 0, 2, "service:materials")
    assert (recorded.lot_id, recorded.quantity, recorded.version, recorded.reason) == (
        stock.id, 6, 2, f"used by booking {booking.booking_id}"
    )  # fmt: skip
    assert consumed == events.ReservationConsumed(
        booking_id=booking.booking_id, reservation_id=reserved.reservation_id, facility_id=FACILITY,
        lines=reserved.lines,
    )  # fmt: skip
    assert (await uow.reservations.of_booking(booking.booking_id)).status == "consumed"
    assert await answers(uow, inventory.consume_for_booking, completed) == []


def campaign_confirmed(material, *booking_ids, version=2) -> inbound.CampaignConfirmed:
    need = [inbound.MaterialNeed(material_id=material.id, quantity=Decimal(10), unit="mL")]
    return inbound.CampaignConfirmed(
        campaign_id=uuid.uuid4(), campaign=inbound.Campaign(version=version, facility_id=FACILITY),
        reserve=[inbound.BatchToReserve(booking_id=b, starts_at=models.now() + timedelta(days=30), material_needs=need)
                 for b in booking_ids],
    )  # fmt: skip


async def test_a_campaign_asking_for_a_reserved_batch_beside_a_new_one_reserves_nothing_twice():
    uow, medium, _ = await stocked()
    medium_lot = await lot(uow, medium, "100", "M1")
    first, second = uuid.uuid4(), uuid.uuid4()
    [answer] = await answers(uow, inventory.reserve_for_campaign, campaign_confirmed(medium, first))
    assert answer.type == "gmphub.materials.campaign_reservation.confirmed.v1" and medium_lot.reserved == 10

    with pytest.raises(Conflict, match="only some have reservations"):
        await inventory.reserve_for_campaign(uow, campaign_confirmed(medium, first, second, version=3))
    assert medium_lot.reserved == 10 and await uow.reservations.of_booking(second) is None

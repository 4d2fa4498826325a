"""Lots on the in-memory unit of work: recording and counting them, and the expiry job that marks
each lot past its date once, naming what bookings still hold of it."""

import uuid
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from services.materials import catalogue, events, inbound, inventory, jobs, models
from services.materials.domain import Category, Grade, MaterialEntry, Origin, QualityAttributes
from shared.problems import Conflict, Forbidden, Unprocessable
from tests.unit.materials.fakes import FakeUnitOfWork

FACILITY = uuid.uuid4()
TODAY = models.today()
MEDIUM = MaterialEntry(
    name="TexMACS GMP Medium", category=Category.CELL_CULTURE_MEDIUM,
    quality=QualityAttributes(grade=Grade.GMP, origin=Origin.ANIMAL_ORIGIN_FREE),
)  # fmt: skip


def anyone(lot: models.Lot) -> None:
    """The caller may count any lot."""


def nobody(lot: models.Lot) -> None:
    raise Forbidden(f"Not a user of facility {lot.facility_id}.")


async def with_material(actor="facility:user-1") -> tuple[FakeUnitOfWork, models.Material]:
    uow = FakeUnitOfWork(actor)
    material, _ = await catalogue.register_material(uow, MEDIUM)
    uow.events.clear()
    return uow, material


async def record(uow, material, quantity="500", number="L-1", expires_in_days=365, unit="mL") -> models.Lot:
    expires_on = TODAY + timedelta(days=expires_in_days)
    return await inventory.record_lot(uow, FACILITY, material.id, number, expires_on, Decimal(quantity), unit)


async def test_recording_a_lot_stores_it_in_its_canonical_unit_and_says_so():
    uow, medium = await with_material()
    lot = await record(uow, medium, "250.5", number=" L-1 ", unit="ml")
    assert uow.lots.rows == {lot.id: lot}
    assert (lot.lot_number, lot.quantity, lot.reserved, lot.unit, lot.version) == ("L-1", Decimal("250.5"), 0, "mL", 1)
    assert uow.events == [
        events.LotRecorded(
            lot_id=lot.id, facility_id=FACILITY, material_id=medium.id, lot_number="L-1", expires_on=lot.expires_on,
            quantity=Decimal("250.5"), unit="mL", version=1, reserved=Decimal(0),
        )
    ]  # fmt: skip


async def test_a_lot_is_of_a_material_in_use_and_numbered_once_per_facility():
    uow, medium = await with_material()
    with pytest.raises(Unprocessable, match="register it first"):
        await record(uow, SimpleNamespace(id=uuid.uuid4()))
    first = await record(uow, medium)
    with pytest.raises(Conflict, match=str(first.id)):
        await record(uow, medium)
    with pytest.raises(Unprocessable, match="Unknown unit"):
        await record(uow, medium, number="L-2", unit="bottles")
    await catalogue.update_material(uow, medium.id, lambda current: MEDIUM, retired=True)
    with pytest.raises(Conflict, match="retired"):
        await record(uow, medium, number="L-3")
    assert list(uow.lots.rows) == [first.id]


async def test_counting_a_lot_is_a_new_version_with_the_reason():
    uow, medium = await with_material()
    lot = await record(uow, medium, "500")
    await inventory.count_lot(uow, lot.id, Decimal("480.25"), "stock-take", authorise=anyone)
    assert (lot.quantity, lot.version, lot.updated_by) == (Decimal("480.25"), 2, "facility:user-1")
    assert (uow.events[-1].quantity, uow.events[-1].version, uow.events[-1].reason) == (
        Decimal("480.25"), 2, "stock-take"
    )  # fmt: skip
    await inventory.count_lot(uow, lot.id, Decimal("480.25"), "the same again", authorise=anyone)
    assert lot.version == 2 and len(uow.events) == 2


async def test_a_count_never_goes_below_what_is_reserved_and_only_the_facility_counts():
    uow, medium = await with_material()
    lot = await record(uow, medium, "500")
    lot.reserved = Decimal(100)
    with pytest.raises(Conflict, match="reserved"):
        await inventory.count_lot(uow, lot.id, Decimal("99.999999"), "breakage", authorise=anyone)
    with pytest.raises(Forbidden):
        await inventory.count_lot(uow, lot.id, Decimal(0), "not mine", authorise=nobody)
    assert (lot.quantity, lot.version, len(uow.events)) == (500, 1, 1)


# --- expiry -------------------------------------------------------------------------------------


async def test_expiry_marks_each_lot_past_its_date_once_and_names_what_bookings_hold():
    uow, medium = await with_material()
    past = await record(uow, medium, "10", number="PAST", expires_in_days=-1)
    held = await record(uow, medium, "500", number="HELD", expires_in_days=2)
    booking = inbound.Booking(version=2, facility_id=FACILITY, starts_at=models.now(), material_needs=[
        inbound.MaterialNeed(material_id=medium.id, quantity=Decimal("120.5"), unit="mL")
    ])  # fmt: skip
    booking_id = uuid.uuid4()
    await inventory.reserve_for_booking(uow, inbound.BookingConfirmed(booking_id=booking_id, booking=booking))
    reservation = await uow.reservations.of_booking(booking_id)
    last_day = await record(uow, medium, "10", number="LAST-DAY", expires_in_days=0)
    uow.events.clear()

    expired = await inventory.expire_due_lots(uow, TODAY + timedelta(days=3), batch=100)

    assert expired == [past.id, last_day.id, held.id]  # earliest expiry first
    assert [(e.lot_number, e.version, e.reserved) for e in uow.events] == [
        ("PAST", 2, 0), ("LAST-DAY", 2, 0), ("HELD", 2, Decimal("120.5"))
    ]  # fmt: skip
    assert uow.events[2].holds == [
        events.ExpiredLotHold(
            booking_id=booking_id, reservation_id=reservation.id, quantity=Decimal("120.5"), unit="mL"
        )
    ]
    assert held.reserved == Decimal("120.5") and held.quantity == 500  # nothing leaves the lot
    assert await inventory.expire_due_lots(uow, TODAY + timedelta(days=3), batch=100) == []


async def test_expiry_leaves_a_lot_alone_through_its_expiry_day():
    uow, medium = await with_material()
    today = await record(uow, medium, expires_in_days=0)
    assert await inventory.expire_due_lots(uow, TODAY, batch=100) == []
    assert today.expired_at is None and [type(e) for e in uow.events] == [events.LotRecorded]


async def test_the_expiry_job_works_in_batches_each_committed_as_the_job():
    uow, medium = await with_material()
    due = [await record(uow, medium, number=f"DUE-{i}", expires_in_days=-1 - i) for i in range(3)]
    database = SimpleNamespace(unit_of_work=lambda actor: setattr(uow, "actor", actor) or uow)

    marked = await jobs.expire_lots_once(SimpleNamespace(db=database))

    assert marked == 3 and uow.committed
    assert all(lot.expired_at is not None and lot.updated_by == jobs.LOT_EXPIRY_ACTOR for lot in due)
    assert [type(e) for e in uow.events[-3:]] == [events.LotExpired] * 3

"""Allocation rules: earliest expiry first, all or nothing, exact decimals, units, expired lots."""

import uuid
from datetime import date
from decimal import Decimal

import pytest

from services.materials.domain import (
    LotStock,
    Need,
    Short,
    allocate,
    allocate_batches,
    check_new_quantity,
    check_quantity,
    convert,
)
from shared.errors import Conflict, Unprocessable

USE_ON = date(2027, 3, 1)
MEDIUM, CYTOKINE = uuid.uuid4(), uuid.uuid4()


def lot(material, number, expires, available, unit="mL"):
    return LotStock(uuid.uuid4(), material, number, expires, Decimal(available), unit)


def test_takes_earliest_expiry_first_and_splits_across_lots():
    late = lot(MEDIUM, "L3", date(2027, 9, 1), "500")
    early = lot(MEDIUM, "L1", date(2027, 4, 1), "300")
    middle = lot(MEDIUM, "L2", date(2027, 6, 1), "300")
    allocation = allocate([Need(MEDIUM, Decimal("450"), "mL")], [late, early, middle], USE_ON)
    assert allocation.complete
    assert [(t.lot.lot_number, t.quantity) for t in allocation.takes] == [("L1", Decimal(300)), ("L2", Decimal(150))]


def test_all_or_nothing_when_one_material_is_short():
    lots = [lot(MEDIUM, "L1", date(2027, 4, 1), "1000"), lot(CYTOKINE, "C1", date(2027, 4, 1), "40", "µg")]
    allocation = allocate([Need(MEDIUM, Decimal(500), "mL"), Need(CYTOKINE, Decimal(50), "µg")], lots, USE_ON)
    assert not allocation.complete
    assert allocation.takes == []
    [short] = allocation.shortfalls
    assert (short.material_id, short.requested, short.available, short.unit) == (CYTOKINE, 50, 40, "µg")


def test_lots_expiring_before_use_are_not_reservable():
    expired = lot(MEDIUM, "OLD", date(2027, 2, 28), "1000")
    fresh = lot(MEDIUM, "NEW", date(2027, 3, 1), "100")  # expiring on the day of use still serves
    allocation = allocate([Need(MEDIUM, Decimal(150), "mL")], [expired, fresh], USE_ON)
    assert [(s.requested, s.available) for s in allocation.shortfalls] == [(150, 100)]
    assert allocate([Need(MEDIUM, Decimal(100), "mL")], [expired, fresh], USE_ON).takes[0].lot.lot_number == "NEW"


def test_exact_decimals_with_unit_conversion():
    litres = lot(MEDIUM, "L1", date(2027, 4, 1), "0.3", "L")
    allocation = allocate([Need(MEDIUM, Decimal("0.1"), "mL"), Need(MEDIUM, Decimal("0.2"), "mL")], [litres], USE_ON)
    [take] = allocation.takes
    assert take.quantity == Decimal("0.0003")  # 0.3 mL in litres, no float drift
    assert convert(Decimal("0.1"), "mL", "µL") == Decimal(100)
    assert convert(Decimal(1), "mL", "mg") is None


def test_lot_in_another_dimension_does_not_serve_and_unknown_unit_falls_short():
    grams = lot(MEDIUM, "G1", date(2027, 4, 1), "1000", "g")
    assert allocate([Need(MEDIUM, Decimal(1), "mL")], [grams], USE_ON).shortfalls[0].available == 0
    assert not allocate([Need(MEDIUM, Decimal(1), "bottles")], [grams], USE_ON).complete


def test_no_needs_is_a_complete_empty_allocation():
    allocation = allocate([], [lot(MEDIUM, "L1", date(2027, 4, 1), "1")], USE_ON)
    assert allocation.complete and allocation.takes == []


def test_quantities_never_negative_nor_below_reserved():
    with pytest.raises(Unprocessable):
        check_quantity(Decimal("-0.000001"))
    with pytest.raises(Unprocessable):
        check_quantity(Decimal("1.0000001"))
    with pytest.raises(Conflict):
        check_new_quantity(Decimal(9), reserved=Decimal(10))
    assert check_new_quantity(Decimal(10), reserved=Decimal(10)) == 10


def test_takes_are_rounded_up_to_six_places_never_beyond_the_lot():
    litres = lot(MEDIUM, "L1", date(2027, 4, 1), "0.000002", "L")  # 2 µL... counted in litres
    [take] = allocate([Need(MEDIUM, Decimal("0.0000001"), "mL")], [litres], USE_ON).takes
    assert take.quantity == Decimal("0.000001")  # 1e-10 L needed; a lot cannot hold less than 1e-6
    [whole] = allocate([Need(MEDIUM, Decimal("2"), "µL")], [litres], USE_ON).takes
    assert whole.quantity == Decimal("0.000002")


def test_a_campaigns_batches_take_in_turn_from_the_same_lots_all_or_nothing():
    first, second = uuid.uuid4(), uuid.uuid4()
    lots = [lot(MEDIUM, "L1", date(2027, 4, 1), "15"), lot(MEDIUM, "L2", date(2027, 9, 1), "10")]
    need = [Need(MEDIUM, Decimal("10"), "mL")]
    fits = allocate_batches([(first, need, USE_ON), (second, need, USE_ON)], lots)
    assert [(t.lot.lot_number, t.quantity) for t in fits[first].takes] == [("L1", Decimal(10))]
    assert [(t.lot.lot_number, t.quantity) for t in fits[second].takes] == [("L1", Decimal(5)), ("L2", Decimal(5))]

    third = uuid.uuid4()
    short = allocate_batches([(first, need, USE_ON), (second, need, USE_ON), (third, need, USE_ON)], lots)
    assert [a.takes for a in short.values()] == [[], [], []]  # one short: none takes anything
    assert [a.shortfalls for a in short.values()] == [[], [], [Short(MEDIUM, Decimal(10), Decimal(5), "mL")]]


def test_a_later_batch_cannot_use_a_lot_expired_by_its_own_start():
    early, late = uuid.uuid4(), uuid.uuid4()
    lots = [lot(MEDIUM, "L1", date(2027, 4, 1), "20")]
    need = [Need(MEDIUM, Decimal("10"), "mL")]
    allocations = allocate_batches([(early, need, USE_ON), (late, need, date(2027, 5, 1))], lots)
    assert allocations[late].shortfalls == [Short(MEDIUM, Decimal(10), Decimal(0), "mL")]
    assert allocations[early].takes == []

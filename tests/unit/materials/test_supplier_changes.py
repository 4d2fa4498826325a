"""Supplier change notifications on the in-memory unit of work: who a change reaches, one answer
per facility, and quarantined lots never reserved again."""

import uuid
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.materials import catalogue, inventory, models, supplier_changes
from services.materials.domain import ChangeOutcome, QualificationStatus, RiskClass, SupplierChangeType
from shared.problems import Conflict, NotFound, Unprocessable
from tests.unit.materials.fakes import FakeUnitOfWork
from tests.unit.materials.test_inventory import MEDIUM

A, B = uuid.uuid4(), uuid.uuid4()
IN_A_YEAR = models.today() + timedelta(days=365)


async def stocked() -> tuple[FakeUnitOfWork, models.Supplier, models.Material, dict[str, models.Lot]]:
    uow = FakeUnitOfWork()
    supplier = await catalogue.register_supplier(uow, "CellGenix", "DE", QualificationStatus.QUALIFIED, None)
    material, _ = await catalogue.register_material(uow, replace(MEDIUM, supplier_id=supplier.id))
    lots = {
        "a": await inventory.record_lot(uow, A, material.id, "A-1", IN_A_YEAR, Decimal(500), "mL"),
        "b": await inventory.record_lot(uow, B, material.id, "B-1", IN_A_YEAR, Decimal(100), "mL"),
        "b_empty": await inventory.record_lot(uow, B, material.id, "B-0", IN_A_YEAR, Decimal(0), "mL"),
    }
    uow.events.clear()
    return uow, supplier, material, lots


async def notify(uow, supplier, *materials) -> models.SupplierChange:
    return await supplier_changes.record(
        uow, supplier.id, SupplierChangeType.FORMULATION, "New stabiliser", [m.id for m in materials],
        date(2027, 3, 1), RiskClass.CRITICAL,
    )  # fmt: skip


async def test_a_change_reaches_the_facilities_holding_stock_and_each_answers_once():
    uow, supplier, material, lots = await stocked()
    change = await notify(uow, supplier, material)

    [recorded] = uow.events
    assert {(f.facility_id, tuple(f.lot_ids)) for f in recorded.supplier_change.facilities} == {
        (A, (lots["a"].id,)), (B, (lots["b"].id,))  # not the empty lot
    }  # fmt: skip
    await supplier_changes.answer(uow, change.id, A, ChangeOutcome.QUARANTINE_LOTS, "Not qualified yet")
    assert lots["a"].quarantined_at is not None and lots["a"].quarantined_by_change_id == change.id
    assert lots["a"].version == 2 and await uow.lots.locked_reservable(A, [material.id], models.today()) == {}
    with pytest.raises(Conflict, match="already answered"):
        await supplier_changes.answer(uow, change.id, A, ChangeOutcome.ACCEPTED, "Changed our mind")
    await supplier_changes.answer(uow, change.id, B, ChangeOutcome.ACCEPTED, "Comparable")
    assert lots["b"].quarantined_at is None
    assert [e.type.split(".")[2:4] for e in uow.events] == [
        ["supplier_change", "recorded"], ["lot", "quarantined"], ["supplier_change", "answered"],
        ["supplier_change", "answered"],
    ]  # fmt: skip
    assert {f.facility_id: f.outcome for f in uow.events[-1].supplier_change.facilities} == {
        A: "quarantine_lots", B: "accepted"
    }  # fmt: skip


async def test_a_change_names_only_its_suppliers_materials_and_reaches_only_holders():
    uow, supplier, material, _ = await stocked()
    other = await catalogue.register_supplier(uow, "Other", "FR", QualificationStatus.QUALIFIED, None)
    foreign, _ = await catalogue.register_material(uow, replace(MEDIUM, supplier_id=other.id, catalogue_number="x"))
    with pytest.raises(Unprocessable, match="not supplied by"):
        await notify(uow, supplier, material, foreign)
    change = await notify(uow, supplier, material)
    with pytest.raises(NotFound, match="held no lots"):
        await supplier_changes.answer(uow, change.id, uuid.uuid4(), ChangeOutcome.ACCEPTED, "We hold none")

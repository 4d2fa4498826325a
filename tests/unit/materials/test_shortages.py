"""Shortage use cases on the in-memory unit of work: declared, changed and resolved, each change a
new version whose event names the material."""

import uuid
from datetime import date

import pytest

from services.materials import catalogue, events, models, shortages
from services.materials.domain import Category, Grade, MaterialEntry, Origin, QualityAttributes, Severity
from shared.problems import Conflict, Forbidden, NotFound, Unprocessable
from tests.unit.materials.fakes import FakeUnitOfWork

FACILITY = uuid.uuid4()
IL2 = MaterialEntry("IL-2", Category.CYTOKINE_GROWTH_FACTOR, QualityAttributes(Grade.GMP, Origin.ANIMAL_ORIGIN_FREE))


def anyone(shortage: models.Shortage) -> None:
    """The caller may change any shortage."""


def nobody(shortage: models.Shortage) -> None:
    raise Forbidden("Only who declared it may change it.")


async def declared(**fields) -> tuple[FakeUnitOfWork, models.Shortage]:
    uow = FakeUnitOfWork("regulator:bfarm")
    material, _ = await catalogue.register_material(uow, IL2)
    uow.events.clear()
    values = {"severity": Severity.HIGH, "expected_end": None, "regions": ["de", "AT", "DE"], "reason": None} | fields
    shortage = await shortages.declare(uow, material.id, facility_id=FACILITY, **values)
    return uow, shortage


async def test_declaring_a_shortage_stores_it_active_and_names_the_material():
    uow, shortage = await declared(expected_end=date(2027, 6, 30), reason="plant shut")
    assert uow.shortages.rows == {shortage.id: shortage}
    assert (shortage.status, shortage.regions, shortage.reported_by_facility_id) == ("active", ["AT", "DE"], FACILITY)
    assert uow.events == [
        events.ShortageDeclared(
            shortage_id=shortage.id,
            shortage=events.ShortageState(
                shortage_id=shortage.id, material_id=shortage.material_id, material_name="IL-2", version=1,
                severity="high", status="active", expected_end=date(2027, 6, 30), regions=["AT", "DE"],
                reason="plant shut",
            ),
        )
    ]  # fmt: skip


async def test_a_shortage_is_of_a_known_material_in_known_regions():
    uow = FakeUnitOfWork()
    with pytest.raises(NotFound, match="No material"):
        await shortages.declare(uow, uuid.uuid4(), Severity.LOW, None, ["DE"], None, None)
    with pytest.raises(Unprocessable, match="region"):
        await declared(regions=["Germany"])
    assert uow.shortages.rows == {} and uow.events == []


async def test_changing_a_shortage_is_a_new_version_and_no_change_is_no_event():
    uow, shortage = await declared()
    changes = {"severity": "critical", "regions": ["fr", "DE"]}
    await shortages.update(uow, shortage.id, changes, authorise=anyone)
    assert (shortage.version, shortage.severity, shortage.regions, shortage.updated_by) == (
        2, "critical", ["DE", "FR"], "regulator:bfarm"
    )  # fmt: skip
    [_, updated] = uow.events
    assert isinstance(updated, events.ShortageUpdated) and updated.shortage.severity == "critical"
    await shortages.update(uow, shortage.id, {"severity": "critical"}, authorise=anyone)
    assert shortage.version == 2 and len(uow.events) == 2


async def test_only_whom_authorise_lets_changes_or_resolves_a_shortage():
    uow, shortage = await declared()
    with pytest.raises(Forbidden):
        await shortages.update(uow, shortage.id, {"severity": "low"}, authorise=nobody)
    with pytest.raises(Forbidden):
        await shortages.resolve(uow, shortage.id, "over", authorise=nobody)
    assert (shortage.severity, shortage.status, len(uow.events)) == ("high", "active", 1)


async def test_resolving_a_shortage_ends_it_for_good():
    uow, shortage = await declared()
    await shortages.resolve(uow, shortage.id, "supply restored", authorise=anyone)
    assert (shortage.status, shortage.resolution_note, shortage.version) == ("resolved", "supply restored", 2)
    assert shortage.resolved_at == shortage.updated_at
    assert isinstance(uow.events[-1], events.ShortageResolved) and uow.events[-1].shortage.status == "resolved"
    with pytest.raises(Conflict, match="resolved"):
        await shortages.resolve(uow, shortage.id, "again", authorise=anyone)
    with pytest.raises(Conflict, match="resolved"):
        await shortages.update(uow, shortage.id, {"severity": "low"}, authorise=anyone)
    assert len(uow.events) == 2

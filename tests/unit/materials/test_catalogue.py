"""Catalogue use cases on the in-memory unit of work: suppliers, materials and their alternatives,
what each change stores and the event it publishes."""

from dataclasses import replace

import pytest

from services.materials import catalogue, events
from services.materials.domain import Category, Grade, MaterialEntry, Origin, QualificationStatus, QualityAttributes
from shared.problems import Conflict, NotFound, Unprocessable
from tests.unit.materials.fakes import FakeUnitOfWork

GMP = QualityAttributes(grade=Grade.GMP, origin=Origin.ANIMAL_ORIGIN_FREE, usp1043_tier=1, ph_eur_5_2_12=True)


def entry(name="TexMACS GMP Medium", **fields) -> MaterialEntry:
    return MaterialEntry(name=name, category=Category.CELL_CULTURE_MEDIUM, quality=GMP, **fields)


async def supplier(uow, name="Miltenyi Biotec", status=QualificationStatus.QUALIFIED):
    return await catalogue.register_supplier(uow, name, "DE", status, None)


async def material(uow, name="TexMACS GMP Medium", **fields):
    registered, _ = await catalogue.register_material(uow, entry(name, **fields))
    return registered


def keep(new_entry: MaterialEntry):
    """A revision that gives the material `new_entry`, whatever it was."""
    return lambda current: new_entry


# --- suppliers ----------------------------------------------------------------------------------


async def test_registering_a_supplier_stores_it_as_version_1_and_says_so():
    uow = FakeUnitOfWork()
    registered = await catalogue.register_supplier(uow, "  Miltenyi Biotec ", "DE", QualificationStatus.QUALIFIED, "ok")
    assert uow.suppliers.rows == {registered.id: registered}
    assert (registered.name, registered.version, registered.created_by) == ("Miltenyi Biotec", 1, "admin:curator")
    assert uow.events == [
        events.SupplierRegistered(
            supplier_id=registered.id, name="Miltenyi Biotec", country="DE", qualification_status="qualified", version=1
        )
    ]


async def test_a_supplier_name_is_taken_whatever_its_case():
    uow = FakeUnitOfWork()
    first = await supplier(uow)
    with pytest.raises(Conflict, match=str(first.id)):
        await supplier(uow, "MILTENYI biotec")
    assert len(uow.suppliers.rows) == 1 and len(uow.events) == 1


async def test_changing_a_supplier_is_a_new_version_with_its_whole_state():
    uow = FakeUnitOfWork()
    registered = await supplier(uow, status=QualificationStatus.UNDER_EVALUATION)
    changes = {"qualification_status": QualificationStatus.QUALIFIED, "note": "audited 2026-10"}
    updated = await catalogue.update_supplier(uow, registered.id, changes)
    assert (updated.version, updated.qualification_status, updated.note) == (2, "qualified", "audited 2026-10")
    assert uow.events[-1] == events.SupplierUpdated(
        supplier_id=registered.id, version=2, name="Miltenyi Biotec", country="DE",
        qualification_status="qualified", note="audited 2026-10",
    )  # fmt: skip


async def test_a_supplier_change_that_changes_nothing_is_no_event():
    uow = FakeUnitOfWork()
    registered = await supplier(uow)
    await catalogue.update_supplier(uow, registered.id, {"country": "DE", "qualification_status": "qualified"})
    assert registered.version == 1 and len(uow.events) == 1


async def test_an_unknown_supplier_cannot_change():
    uow = FakeUnitOfWork()
    with pytest.raises(NotFound, match="No supplier"):
        await catalogue.update_supplier(uow, (await supplier(FakeUnitOfWork())).id, {"note": "x"})


# --- materials ----------------------------------------------------------------------------------


async def test_registering_a_material_stores_its_entry_and_publishes_its_state():
    uow = FakeUnitOfWork()
    miltenyi = await supplier(uow)
    registered, its_supplier = await catalogue.register_material(
        uow, entry(synonyms=("T cell medium",), supplier_id=miltenyi.id, catalogue_number="170-076-306")
    )
    assert its_supplier is miltenyi and uow.materials.rows == {registered.id: registered}
    assert (registered.catalogue_number, registered.search_text) == (
        "170-076-306", "texmacs gmp medium t cell medium 170-076-306"
    )  # fmt: skip
    [_, published] = uow.events
    assert published == events.MaterialRegistered(
        material_id=registered.id,
        material=events.MaterialState(
            material_id=registered.id, version=1, name="TexMACS GMP Medium", category="cell_culture_medium",
            supplier_id=miltenyi.id, catalogue_number="170-076-306", grade="gmp", usp1043_tier=1,
            origin="animal_origin_free", synonyms=["T cell medium"], ph_eur_5_2_12=True,
        ),
    )  # fmt: skip


async def test_a_material_names_a_registered_supplier_and_a_catalogue_number_of_its_own():
    uow = FakeUnitOfWork()
    with pytest.raises(NotFound, match="No supplier"):
        await material(uow, supplier_id=(await supplier(FakeUnitOfWork())).id)
    miltenyi = await supplier(uow)
    first = await material(uow, supplier_id=miltenyi.id, catalogue_number="170-076-306")
    with pytest.raises(Conflict, match=str(first.id)):
        await material(uow, "Another medium", supplier_id=miltenyi.id, catalogue_number="170-076-306")
    other = await supplier(uow, "Lonza")
    await material(uow, "Lonza's medium", supplier_id=other.id, catalogue_number="170-076-306")  # another supplier's
    assert len(uow.materials.rows) == 2


async def test_revising_a_material_applies_the_whole_new_entry_as_a_new_version():
    uow = FakeUnitOfWork()
    miltenyi = await supplier(uow)
    medium = await material(uow, supplier_id=miltenyi.id, catalogue_number="170-076-306")
    seen = []

    def revise(current):
        seen.append(current)
        return replace(entry(supplier_id=miltenyi.id, catalogue_number="170-076-306"), name="TexMACS Medium 2")

    revised, its_supplier = await catalogue.update_material(uow, medium.id, revise, retired=None)
    assert seen == [medium]  # the revision sees the material as it is
    assert (revised.name, revised.version, revised.retired, its_supplier) == ("TexMACS Medium 2", 2, False, miltenyi)
    assert uow.events[-1] == events.MaterialUpdated(material_id=medium.id, material=catalogue.material_state(revised))
    assert uow.events[-1].material.name == "TexMACS Medium 2"


async def test_retiring_a_material_is_a_change_and_the_same_entry_again_is_none():
    uow = FakeUnitOfWork()
    medium = await material(uow)
    await catalogue.update_material(uow, medium.id, keep(entry()), retired=None)
    assert medium.version == 1 and len(uow.events) == 1
    await catalogue.update_material(uow, medium.id, keep(entry()), retired=True)
    assert medium.retired and medium.version == 2
    assert uow.events[-1].material.retired


async def test_a_revision_may_keep_its_own_catalogue_number_but_not_take_another():
    uow = FakeUnitOfWork()
    miltenyi = await supplier(uow)
    mine = await material(uow, supplier_id=miltenyi.id, catalogue_number="A-1")
    theirs = await material(uow, "Other", supplier_id=miltenyi.id, catalogue_number="B-2")
    await catalogue.update_material(
        uow, mine.id, keep(entry("Renamed", supplier_id=miltenyi.id, catalogue_number="A-1")), None
    )
    with pytest.raises(Conflict, match=str(theirs.id)):
        await catalogue.update_material(
            uow, mine.id, keep(entry(supplier_id=miltenyi.id, catalogue_number="B-2")), None
        )
    assert mine.catalogue_number == "A-1"


# --- alternatives -------------------------------------------------------------------------------


async def test_naming_an_alternative_links_them_once_per_note():
    uow = FakeUnitOfWork()
    medium, other = await material(uow), await material(uow, "X-VIVO 15")
    await catalogue.name_alternative(uow, medium.id, other.id, "serum-free; other vendor")
    await catalogue.name_alternative(uow, medium.id, other.id, "serum-free; other vendor")  # no change
    await catalogue.name_alternative(uow, medium.id, other.id, "serum-free; validated in run 12")
    link = uow.alternatives.rows[(medium.id, other.id)]
    assert (link.note, link.withdrawn, link.created_by) == ("serum-free; validated in run 12", False, "admin:curator")
    assert uow.events[2:] == [
        events.AlternativeNamed(material_id=medium.id, alternative_id=other.id, note="serum-free; other vendor"),
        events.AlternativeNamed(material_id=medium.id, alternative_id=other.id, note="serum-free; validated in run 12"),
    ]


async def test_a_material_is_not_its_own_alternative_and_a_retired_one_is_none():
    uow = FakeUnitOfWork()
    medium, retired = await material(uow), await material(uow, "Old medium")
    await catalogue.update_material(uow, retired.id, keep(entry("Old medium")), retired=True)
    with pytest.raises(Unprocessable):
        await catalogue.name_alternative(uow, medium.id, medium.id, "itself")
    with pytest.raises(Conflict, match="retired"):
        await catalogue.name_alternative(uow, medium.id, retired.id, "old stock")
    with pytest.raises(NotFound, match="No material"):
        await catalogue.name_alternative(uow, medium.id, (await material(FakeUnitOfWork())).id, "unknown")
    assert uow.alternatives.rows == {}


async def test_withdrawing_an_alternative_keeps_the_link_and_naming_it_again_restores_it():
    uow = FakeUnitOfWork()
    medium, other = await material(uow), await material(uow, "X-VIVO 15")
    await catalogue.name_alternative(uow, medium.id, other.id, "serum-free")
    await catalogue.withdraw_alternative(uow, medium.id, other.id, "failed comparability")
    assert uow.alternatives.rows[(medium.id, other.id)].withdrawn
    assert uow.events[-1] == events.AlternativeWithdrawn(
        material_id=medium.id, alternative_id=other.id, reason="failed comparability"
    )
    with pytest.raises(NotFound, match="does not name"):
        await catalogue.withdraw_alternative(uow, medium.id, other.id, "again")
    await catalogue.name_alternative(uow, medium.id, other.id, "serum-free")
    assert not uow.alternatives.rows[(medium.id, other.id)].withdrawn
    assert isinstance(uow.events[-1], events.AlternativeNamed)

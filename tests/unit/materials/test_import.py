"""The CSV import on the in-memory unit of work: good rows become materials, each with its
registration event; bad rows are reported by line with the reason; a dry run writes nothing."""

import pytest

from services.materials import catalogue, events, importing
from services.materials.domain import QualificationStatus
from shared.problems import Unprocessable
from tests.unit.materials.fakes import FakeUnitOfWork

HEADER = "name,synonyms,category,supplier,catalogue_number,grade,usp1043_tier,origin,ph_eur_5_2_12"


def csv(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


async def catalogue_with_supplier() -> tuple[FakeUnitOfWork, object]:
    uow = FakeUnitOfWork()
    miltenyi = await catalogue.register_supplier(uow, "Miltenyi Biotec", "DE", QualificationStatus.QUALIFIED, None)
    uow.events.clear()
    return uow, miltenyi


async def test_good_rows_become_materials_each_with_its_registration():
    uow, miltenyi = await catalogue_with_supplier()
    report = await importing.import_csv(
        uow,
        csv(
            "IL-2,aldesleukin;proleukin,cytokine_growth_factor,miltenyi biotec,130-097-743,gmp,2,animal_origin_free,yes",
            f"TexMACS,,cell_culture_medium,{miltenyi.id},170-076-306,gmp,,animal_origin_free,",
        ),
    )
    assert (report.rows, report.imported, report.rejected) == (2, 2, [])
    il2, texmacs = sorted(uow.materials.rows.values(), key=lambda m: m.name)
    assert (il2.supplier_id, il2.synonyms, il2.usp1043_tier, il2.ph_eur_5_2_12) == (
        miltenyi.id, ["aldesleukin", "proleukin"], 2, True
    )  # fmt: skip
    assert (texmacs.catalogue_number, texmacs.version, texmacs.created_by) == ("170-076-306", 1, "admin:curator")
    assert uow.events == [
        events.MaterialRegistered(material_id=m.id, material=catalogue.material_state(m)) for m in (il2, texmacs)
    ]


async def test_bad_rows_are_reported_by_line_and_the_rest_imported():
    uow, _ = await catalogue_with_supplier()
    await importing.import_csv(uow, csv("Taken,,enzyme,Miltenyi Biotec,X-1,gmp,,animal_origin_free,"))
    report = await importing.import_csv(
        uow,
        csv(
            "Good,,enzyme,,,gmp,,animal_origin_free,",
            "Juice,,juice,,,gmp,,animal_origin_free,",
            "Nobody's,,enzyme,Nobody,,gmp,,animal_origin_free,",
            "Again,,enzyme,Miltenyi Biotec,X-1,gmp,,animal_origin_free,",
            "New,,enzyme,Miltenyi Biotec,X-2,gmp,,animal_origin_free,",
            "Twice,,enzyme,Miltenyi Biotec,X-2,gmp,,animal_origin_free,",
            "Long,,enzyme,,,gmp,,animal_origin_free,,extra",
        ),
    )
    assert (report.rows, report.imported) == (7, 2)
    assert [(r.line, r.reason.split(" ")[0]) for r in report.rejected] == [
        (3, "category"), (4, "unknown"), (5, "catalogue"), (7, "catalogue"), (8, "1"),
    ]  # fmt: skip
    assert "earlier in this file" in report.rejected[3].reason
    assert sorted(m.name for m in uow.materials.rows.values()) == ["Good", "New", "Taken"]


async def test_a_dry_run_validates_and_writes_nothing():
    uow, _ = await catalogue_with_supplier()
    report = await importing.import_csv(uow, csv("Good,,enzyme,,,gmp,,animal_origin_free,"), dry_run=True)
    assert (report.rows, report.imported, report.rejected) == (1, 0, [])
    assert uow.materials.rows == {} and uow.events == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("name,colour\n", "Unknown column"),
        ("name,category,grade\n", "lacks the required column"),
    ],
)
async def test_a_file_without_a_usable_header_is_refused_whole(text, reason):
    uow, _ = await catalogue_with_supplier()
    with pytest.raises(Unprocessable, match=reason):
        await importing.import_csv(uow, text)
    assert uow.materials.rows == {}

"""Catalogue entry rules and CSV row validation, without a database."""

import uuid

import pytest

from services.materials.domain import (
    Category,
    Grade,
    MaterialEntry,
    Origin,
    QualityAttributes,
    check_regions,
    clean_synonyms,
)
from services.materials.importing import _entry
from shared.errors import Unprocessable


def test_animal_origin_needs_species_and_tse_statement():
    with pytest.raises(Unprocessable, match="species"):
        QualityAttributes(grade=Grade.GMP, origin=Origin.ANIMAL)
    with pytest.raises(Unprocessable, match="TSE/BSE"):
        QualityAttributes(grade=Grade.GMP, origin=Origin.ANIMAL, origin_species="bovine")
    with pytest.raises(Unprocessable, match="animal origin only"):
        QualityAttributes(grade=Grade.GMP, origin=Origin.HUMAN, origin_species="human")
    ok = QualityAttributes(grade=Grade.GMP, origin=Origin.ANIMAL, origin_species="bovine", tse_bse_statement="NZ herd")
    assert ok.origin_species == "bovine"


def test_tier_must_be_one_to_four():
    with pytest.raises(Unprocessable, match="tier"):
        QualityAttributes(grade=Grade.ANCILLARY, origin=Origin.ANIMAL_ORIGIN_FREE, usp1043_tier=5)


def test_search_text_holds_name_synonyms_and_catalogue_number():
    entry = MaterialEntry(
        name="TexMACS Medium", category=Category.CELL_CULTURE_MEDIUM,
        quality=QualityAttributes(grade=Grade.GMP, origin=Origin.ANIMAL_ORIGIN_FREE),
        synonyms=clean_synonyms(["T-cell medium", " t-cell MEDIUM ", ""]), supplier_id=uuid.uuid4(),
        catalogue_number="170-076-306",
    )  # fmt: skip
    assert entry.synonyms == ("T-cell medium",)
    assert entry.search_text() == "texmacs medium t-cell medium 170-076-306"


def test_regions_are_country_codes_eu_or_eea():
    assert check_regions(["de", "EU", "DE"]) == ["DE", "EU"]
    with pytest.raises(Unprocessable):
        check_regions(["Germany"])
    with pytest.raises(Unprocessable):
        check_regions([])


def test_csv_row_reasons_are_specific():
    supplier = uuid.uuid4()
    suppliers = {"miltenyi": supplier}
    row = {"name": "IL-2", "category": "cytokine_growth_factor", "grade": "gmp", "origin": "animal_origin_free",
           "supplier": "Miltenyi", "usp1043_tier": "2", "ph_eur_5_2_12": "yes", "synonyms": "aldesleukin;proleukin"}  # fmt: skip
    entry = _entry(row, suppliers)
    assert (
        entry.supplier_id == supplier and entry.quality.ph_eur_5_2_12 and entry.synonyms == ("aldesleukin", "proleukin")
    )
    for change, reason in [
        ({"category": "juice"}, "category 'juice' is not one of"),
        ({"supplier": "Nobody"}, "unknown supplier"),
        ({"usp1043_tier": "two"}, "usp1043_tier"),
        ({"ph_eur_5_2_12": "maybe"}, "ph_eur_5_2_12"),
        ({"name": " "}, "missing name"),
        ({"origin": "animal"}, "species"),
    ]:
        with pytest.raises(Unprocessable, match=reason):
            _entry(row | change, suppliers)


def test_substance_identifiers_are_opaque_trimmed_and_blank_means_none():
    quality = QualityAttributes(
        grade=Grade.GMP, origin=Origin.ANIMAL_ORIGIN_FREE, sms_substance_id=" 100000092363 ", unii="YOW8V9698H"
    )
    assert (quality.sms_substance_id, quality.unii) == ("100000092363", "YOW8V9698H")
    blank = QualityAttributes(grade=Grade.GMP, origin=Origin.ANIMAL_ORIGIN_FREE, sms_substance_id="  ", unii="")
    assert (blank.sms_substance_id, blank.unii) == (None, None)

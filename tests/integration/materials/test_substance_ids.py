"""A material's substance identifiers (EMA SPOR SMS id, FDA UNII): optional, opaque, kept as given
(trimmed), in the events, searchable, changed by a patch and read from the CSV import."""

from tests.integration.materials.helpers import material, supplier
from tests.integration.materials.test_import import csv_file

DMSO = {"sms_substance_id": "100000092363", "unii": "YOW8V9698H"}  # the SMS id is illustrative


async def test_substance_ids_are_kept_published_and_searchable(materials, tokens):
    supplier_id = await supplier(materials, tokens)
    cryostor = await material(materials, tokens, supplier_id=supplier_id, name="CryoStor CS10",
                              category="cryopreservation_medium", catalogue_number="CS10",
                              sms_substance_id=" 100000092363 ", unii="YOW8V9698H")  # fmt: skip
    await material(materials, tokens)  # the medium, without substance ids
    read = (await materials.client.get(f"/v1/materials/{cryostor}", headers=tokens.developer())).json()
    assert (read["sms_substance_id"], read["unii"]) == ("100000092363", "YOW8V9698H")
    registered = await materials.outbox_events("gmphub.materials.material.registered.v1")
    published = {e["data"]["material_id"]: e["data"]["material"] for e in registered}
    assert (published[cryostor]["sms_substance_id"], published[cryostor]["unii"]) == ("100000092363", "YOW8V9698H")

    async def found(substance_id: str) -> list[str]:
        page = await materials.client.get("/v1/materials", params={"substance_id": substance_id},
                                          headers=tokens.developer())  # fmt: skip
        assert page.status_code == 200, page.text
        return [m["material_id"] for m in page.json()["items"]]

    assert await found("YOW8V9698H") == [cryostor] and await found("100000092363") == [cryostor]
    assert await found("ZIF514RVZR") == []

    cleared = await materials.client.patch(f"/v1/materials/{cryostor}", json={"unii": None, "sms_substance_id": " "},
                                           headers=tokens.admin())  # fmt: skip
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["unii"], cleared.json()["sms_substance_id"], cleared.json()["version"]) == (None, None, 2)
    assert await found("YOW8V9698H") == []


async def test_the_csv_import_reads_substance_ids(materials, tokens):
    await supplier(materials, tokens)
    text = (
        "name,category,supplier,catalogue_number,grade,origin,sms_substance_id,unii\n"
        "CryoStor CS10,cryopreservation_medium,Miltenyi Biotec,CS10,gmp,animal_origin_free,100000092363,YOW8V9698H\n"
        "TexMACS GMP Medium,cell_culture_medium,Miltenyi Biotec,170-076-306,gmp,animal_origin_free,,\n"
    )
    response = await materials.client.post("/v1/materials/import", files=csv_file(text), headers=tokens.admin())
    assert response.status_code == 200 and response.json()["imported"] == 2, response.text
    rows = await materials.sql("SELECT name, sms_substance_id, unii FROM material ORDER BY name")
    assert [tuple(r) for r in rows] == [
        ("CryoStor CS10", "100000092363", "YOW8V9698H"), ("TexMACS GMP Medium", None, None),
    ]  # fmt: skip

"""The catalogue over HTTP on the real database: who may curate, validation, search, alternatives."""

import uuid

from tests.integration.materials.helpers import MEDIUM, material, supplier


async def test_admin_curates_others_read_and_bad_input_changes_nothing(materials, tokens):
    supplier_id = await supplier(materials, tokens)
    body = MEDIUM | {"supplier_id": supplier_id}
    for headers in (tokens.developer(), tokens.facility(uuid.uuid4()), tokens.regulator()):
        response = await materials.client.post("/v1/materials", json=body, headers=headers)
        assert response.status_code == 403, response.text
    assert (await materials.client.post("/v1/materials", json=body)).status_code == 401

    bad = body | {"origin": "animal", "tse_bse_statement": "NZ-sourced"}  # animal origin without species
    response = await materials.client.post("/v1/materials", json=bad, headers=tokens.admin())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "species" in response.json()["detail"]
    assert await materials.sql("SELECT count(*) FROM material") == [(0,)]

    material_id = await material(materials, tokens, supplier_id=supplier_id)
    duplicate = await materials.client.post("/v1/materials", json=body | {"name": "Copy"}, headers=tokens.admin())
    assert duplicate.status_code == 409 and "catalogue number" in duplicate.json()["detail"]

    read = await materials.client.get(f"/v1/materials/{material_id}", headers=tokens.developer())
    assert read.status_code == 200
    assert read.json()["supplier"]["qualification_status"] == "qualified"
    assert read.json()["alternatives"] == []


async def test_changes_are_versioned_and_kept_as_history(materials, tokens):
    supplier_id = await supplier(materials, tokens)
    material_id = await material(materials, tokens, supplier_id=supplier_id)
    patch = await materials.client.patch(
        f"/v1/materials/{material_id}",
        json={"usp1043_tier": 2, "dmf_cep_reference": "US DMF 12345"},
        headers=tokens.admin(),
    )
    assert patch.status_code == 200, patch.text
    assert patch.json()["version"] == 2 and patch.json()["dmf_cep_reference"] == "US DMF 12345"
    rejected = await materials.client.patch(
        f"/v1/materials/{material_id}", json={"origin": "animal"}, headers=tokens.admin()
    )
    assert rejected.status_code == 422
    retire = await materials.client.patch(
        f"/v1/materials/{material_id}", json={"retired": True}, headers=tokens.admin()
    )
    assert retire.json()["retired"] is True

    history = (await materials.client.get(f"/v1/materials/{material_id}/history", headers=tokens.regulator())).json()
    assert [e["type"].split(".")[-2] for e in history] == ["registered", "updated", "updated"]
    assert [e["data"]["material"]["version"] for e in history] == [1, 2, 3]
    assert {e["actor"] for e in history} == {"admin:hub-operator"}

    qualification = await materials.client.patch(
        f"/v1/suppliers/{supplier_id}", json={"qualification_status": "disqualified"}, headers=tokens.admin()
    )
    assert qualification.json()["version"] == 2
    supplier_history = (
        await materials.client.get(f"/v1/suppliers/{supplier_id}/history", headers=tokens.admin())
    ).json()
    assert [e["data"]["qualification_status"] for e in supplier_history] == ["qualified", "disqualified"]


async def test_search_is_typo_tolerant_filtered_and_paginated(materials, tokens):
    miltenyi = await supplier(materials, tokens)
    thermo = await supplier(materials, tokens, name="Thermo Fisher", country="US", status="under_evaluation")
    await material(materials, tokens, supplier_id=miltenyi)
    await material(materials, tokens, supplier_id=thermo, name="Dynabeads CD3/CD28 CTS", synonyms=["T cell activator beads"],
                   category="magnetic_beads", catalogue_number="40203D", usp1043_tier=2)  # fmt: skip
    await material(materials, tokens, name="Fetal bovine serum", synonyms=["FBS"], category="serum_or_serum_replacement",
                   catalogue_number=None, grade="research_use_only", usp1043_tier=4, origin="animal",
                   origin_species="bovine", tse_bse_statement="NZ origin, EDQM CEP", ph_eur_5_2_12=False)  # fmt: skip

    async def names(**params):
        response = await materials.client.get("/v1/materials", params=params, headers=tokens.developer())
        assert response.status_code == 200, response.text
        return [m["name"] for m in response.json()["items"]]

    assert await names(q="dynabaeds") == ["Dynabeads CD3/CD28 CTS"]  # a typo
    assert await names(q="activator") == ["Dynabeads CD3/CD28 CTS"]  # a synonym's word
    assert await names(q="fbs") == ["Fetal bovine serum"]
    assert await names(q="076-306") == ["TexMACS GMP Medium"]  # part of a catalogue number
    assert await names(q="texmacs medum") == ["TexMACS GMP Medium"]
    assert await names(q="zzzzqqq") == []
    assert await names(origin="animal", origin_species="Bovine") == ["Fetal bovine serum"]
    assert await names(grade=["gmp"], usp1043_tier=[2]) == ["Dynabeads CD3/CD28 CTS"]
    assert await names(supplier_country="DE") == ["TexMACS GMP Medium"]
    assert await names(supplier_qualification=["qualified"], ph_eur_5_2_12="true") == ["TexMACS GMP Medium"]
    assert await names(has_coa="true", has_dmf_cep="false", tse_bse_statement="true") == ["Fetal bovine serum"]

    page = (
        await materials.client.get("/v1/materials", params={"limit": 2, "offset": 2}, headers=tokens.admin())
    ).json()
    assert (page["total"], len(page["items"])) == (3, 1)
    invalid = await materials.client.get("/v1/materials", params={"grade": "premium"}, headers=tokens.admin())
    assert invalid.status_code == 422


async def test_search_learns_new_words_and_counts_past_the_last_page(materials, tokens):
    material_id = await material(materials, tokens, name="Fetal bovine serum", synonyms=[], catalogue_number=None)
    renamed = await materials.client.patch(
        f"/v1/materials/{material_id}", json={"name": "Foetal calf serum"}, headers=tokens.admin()
    )
    assert renamed.status_code == 200, renamed.text

    async def search(**params):
        response = await materials.client.get("/v1/materials", params=params, headers=tokens.developer())
        assert response.status_code == 200, response.text
        return response.json()

    assert [m["name"] for m in (await search(q="foetl calv"))["items"]] == ["Foetal calf serum"]  # typos of new words
    assert [m["name"] for m in (await search(q="cal"))["items"]] == ["Foetal calf serum"]  # a word's start
    past = await search(q="serum", offset=5)
    assert (past["total"], past["items"]) == (1, [])


async def test_alternatives_named_withdrawn_and_shown(materials, tokens):
    qualified = await supplier(materials, tokens)
    evaluating = await supplier(materials, tokens, name="Lonza", status="under_evaluation")
    medium = await material(materials, tokens, supplier_id=qualified)
    x_vivo = await material(materials, tokens, name="X-VIVO 15", catalogue_number="BE02-060Q", supplier_id=evaluating)
    optimizer = await material(
        materials, tokens, name="CTS OpTmizer", catalogue_number="A1048501", supplier_id=qualified
    )
    for alternative, note in ((x_vivo, "needs human serum supplement"), (optimizer, "AOF, validated for CAR-T")):
        response = await materials.client.put(
            f"/v1/materials/{medium}/alternatives",
            json={"alternative_id": alternative, "note": note},
            headers=tokens.admin(),
        )
        assert response.status_code == 200, response.text
    forbidden = await materials.client.put(
        f"/v1/materials/{medium}/alternatives", json={"alternative_id": x_vivo, "note": "x"}, headers=tokens.developer()
    )
    assert forbidden.status_code == 403
    itself = await materials.client.put(
        f"/v1/materials/{medium}/alternatives", json={"alternative_id": medium, "note": "x"}, headers=tokens.admin()
    )
    assert itself.status_code == 422

    alternatives = (
        await materials.client.get(f"/v1/materials/{medium}/alternatives", headers=tokens.developer())
    ).json()
    assert {(a["material"]["name"], a["qualified"]) for a in alternatives} == {
        ("X-VIVO 15", False),
        ("CTS OpTmizer", True),
    }
    withdrawn = await materials.client.post(
        f"/v1/materials/{medium}/alternatives/{x_vivo}/withdraw", json={"reason": "supplier not qualified"},
        headers=tokens.admin(),
    )  # fmt: skip
    assert [a["material"]["name"] for a in withdrawn.json()] == ["CTS OpTmizer"]
    detail = (await materials.client.get(f"/v1/materials/{medium}", headers=tokens.developer())).json()
    assert [a["note"] for a in detail["alternatives"]] == ["AOF, validated for CAR-T"]
    history = (await materials.client.get(f"/v1/materials/{medium}/history", headers=tokens.admin())).json()
    assert [e["type"] for e in history][-1] == "gmphub.materials.alternative.withdrawn.v1"


async def test_vocabularies(materials, tokens):
    response = await materials.client.get("/v1/vocabularies", headers=tokens.developer())
    assert response.status_code == 200
    body = response.json()
    assert "magnetic_beads" in body["category"] and body["grade"] == ["gmp", "ancillary", "research_use_only"]
    assert body["usp1043_tier"] == [1, 2, 3, 4] and "mL" in body["unit"]

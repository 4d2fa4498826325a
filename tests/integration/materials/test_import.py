"""Bulk CSV import: bad rows reported by line, good rows in one transaction, nothing half-written."""

import argparse
import uuid

import httpx

from services.materials import cli, importing
from shared.database import COPIED_EVENTS
from tests.integration.materials.helpers import supplier

HEADER = (
    "name,synonyms,category,supplier,catalogue_number,grade,usp1043_tier,origin,origin_species,tse_bse_statement,"
    "ph_eur_5_2_12\n"
)
ROWS = [
    "TexMACS GMP Medium,T cell medium,cell_culture_medium,Miltenyi Biotec,170-076-306,gmp,1,animal_origin_free,,,true",
    "Mystery juice,,juice,Miltenyi Biotec,X-1,gmp,1,animal_origin_free,,,false",  # line 3: unknown category
    "IL-2 (aldesleukin),proleukin;IL2,cytokine_growth_factor,Miltenyi Biotec,130-097-743,gmp,2,animal_origin_free,,,yes",
    "FBS,fetal bovine serum,serum_or_serum_replacement,,,research_use_only,4,animal,,,false",  # line 5: no species
    "Copy of TexMACS,,cell_culture_medium,Miltenyi Biotec,170-076-306,gmp,1,animal_origin_free,,,true",  # line 6: dup
    '"CryoStor CS10, 100 mL",DMSO freezing medium,cryopreservation_medium,Unknown Ltd,CS10,gmp,1,animal_origin_free,,,no',
]


def csv_file(text: str):
    return {"file": ("materials.csv", text.encode(), "text/csv")}


async def test_good_rows_imported_bad_rows_reported_by_line(materials, tokens):
    await supplier(materials, tokens)
    text = HEADER + "\n".join(ROWS) + "\n"
    dry = await materials.client.post("/v1/materials/import", params={"dry_run": "true"}, files=csv_file(text),
                                      headers=tokens.admin())  # fmt: skip
    assert dry.status_code == 200, dry.text
    assert (dry.json()["imported"], len(dry.json()["rejected"])) == (0, 4)
    assert await materials.sql("SELECT count(*) FROM material") == [(0,)]

    response = await materials.client.post("/v1/materials/import", files=csv_file(text), headers=tokens.admin())
    report = response.json()
    assert (report["rows"], report["imported"]) == (6, 2)
    reasons = {r["line"]: r["reason"] for r in report["rejected"]}
    assert sorted(reasons) == [3, 5, 6, 7]
    assert "category 'juice'" in reasons[3]
    assert "species" in reasons[5]
    assert "earlier in this file" in reasons[6]
    assert "unknown supplier 'Unknown Ltd'" in reasons[7]
    names = await materials.sql("SELECT name, synonyms FROM material ORDER BY name")
    assert names == [("IL-2 (aldesleukin)", ["proleukin", "IL2"]), ("TexMACS GMP Medium", ["T cell medium"])]
    registered = await materials.outbox_events("gmphub.materials.material.registered.v1")
    assert len(registered) == 2 and {e["actor"] for e in registered} == {"admin:hub-operator"}

    again = await materials.client.post(
        "/v1/materials/import", files=csv_file(HEADER + ROWS[0]), headers=tokens.admin()
    )
    assert again.json()["rejected"][0]["reason"].startswith("catalogue number 170-076-306 of this supplier is in")


async def test_whole_file_refused_writes_nothing(materials, tokens):
    for text, detail in (
        ("nom,categorie\nx,y\n", "Unknown column(s) nom, categorie"),
        ("name,category,grade\nx,enzyme,gmp\n", "lacks the required column(s) origin"),
        ("", "empty"),
    ):
        response = await materials.client.post("/v1/materials/import", files=csv_file(text), headers=tokens.admin())
        assert response.status_code == 422 and detail in response.json()["detail"], response.text
    latin1 = (HEADER + "Médium,,enzyme,,,gmp,,animal_origin_free,,,\n").encode("latin-1")
    response = await materials.client.post(
        "/v1/materials/import", files={"file": ("m.csv", latin1, "text/csv")}, headers=tokens.admin()
    )
    assert response.status_code == 422 and "UTF-8" in response.json()["detail"]
    for headers in (tokens.developer(), tokens.regulator(), tokens.facility(uuid.uuid4())):
        response = await materials.client.post("/v1/materials/import", files=csv_file(HEADER), headers=headers)
        assert response.status_code == 403
    assert await materials.sql("SELECT count(*) FROM material") == [(0,)]


async def test_cli_uploads_with_progress_and_summary(materials, tokens, tmp_path, capsys, monkeypatch):
    await supplier(materials, tokens)
    path = tmp_path / "materials.csv"
    path.write_text(HEADER + ROWS[0] + "\n" + ROWS[1] + "\n")

    def post(url, **kwargs):  # the CLI's synchronous POST, answered by the in-process app
        kwargs["files"]["file"] = (kwargs["files"]["file"][0], kwargs["files"]["file"][1].read(-1), "text/csv")
        post.seen = (url, kwargs["params"])
        return post.response

    async def answer():
        body = {"file": ("materials.csv", path.read_bytes(), "text/csv")}
        return await materials.client.post("/v1/materials/import", files=body, headers=tokens.admin())

    post.response = await answer()
    monkeypatch.setattr(httpx, "post", post)
    args = argparse.Namespace(file=str(path), url="http://materials/", token="t", dry_run=False, timeout=5.0)
    assert cli.cmd_import_materials(args) == 3  # some lines were rejected
    out, err = capsys.readouterr()
    assert post.seen == ("http://materials/v1/materials/import", {"dry_run": "false"})
    assert "100.0%" in err and "~2/2 rows" in err
    assert "line 3: category 'juice'" in out
    assert "2 rows: imported 1, rejected 1" in out


async def test_a_large_import_writes_every_material_and_its_event(materials, tokens):
    """Past COPIED_EVENTS rows the outbox rows go by COPY: the same envelopes as one by one."""
    await supplier(materials, tokens)
    single = await materials.client.post(
        "/v1/materials/import", files=csv_file(HEADER + ROWS[0]), headers=tokens.admin()
    )
    assert single.json()["imported"] == 1
    rows = [
        f"Medium {i},medium {i},cell_culture_medium,Miltenyi Biotec,M-{i},gmp,1,animal_origin_free,,,true"
        for i in range(COPIED_EVENTS + 50)
    ]
    response = await materials.client.post(
        "/v1/materials/import", files=csv_file(HEADER + "\n".join(rows)), headers=tokens.admin()
    )
    assert response.json()["imported"] == len(rows), response.text
    registered = await materials.outbox_events("gmphub.materials.material.registered.v1")
    assert len(registered) == 1 + len(rows)
    one_by_one, copied = registered[0], registered[-1]
    assert one_by_one.keys() == copied.keys() and one_by_one["data"].keys() == copied["data"].keys()
    assert copied["subject"] == copied["data"]["material_id"]
    assert copied["data"]["material"]["name"] == f"Medium {len(rows) - 1}"
    assert await materials.sql("SELECT count(*) FROM material") == [(1 + len(rows),)]
    keys = await materials.sql("SELECT count(*) FROM outbox o JOIN material m ON o.key = m.id::text")
    assert keys == [(1 + len(rows),)]


async def test_a_value_the_database_cannot_hold_refuses_the_whole_file(materials, tokens):
    rows = [f"Medium {i},,cell_culture_medium,,,gmp,,animal_origin_free,,," for i in range(3)] + [
        "Medium\x00NUL,,cell_culture_medium,,,gmp,,animal_origin_free,,,"
    ]
    response = await materials.client.post(
        "/v1/materials/import", files=csv_file(HEADER + "\n".join(rows)), headers=tokens.admin()
    )
    assert response.status_code == 422 and "malformed" in response.json()["detail"], response.text
    assert await materials.sql("SELECT count(*) FROM material") == [(0,)]
    assert await materials.outbox_events("gmphub.materials.material.registered.v1") == []


async def test_too_many_rows_stop_the_copy_and_write_nothing(materials, tokens, monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 3)
    rows = [f"Medium {i},,cell_culture_medium,,,gmp,,animal_origin_free,,," for i in range(5)]
    response = await materials.client.post(
        "/v1/materials/import", files=csv_file(HEADER + "\n".join(rows)), headers=tokens.admin()
    )
    assert response.status_code == 422 and "more than 3 rows" in response.json()["detail"], response.text
    assert await materials.sql("SELECT count(*) FROM material") == [(0,)]
    again = await materials.client.post(
        "/v1/materials/import", files=csv_file(HEADER + "\n".join(rows[:3])), headers=tokens.admin()
    )
    assert again.json()["imported"] == 3

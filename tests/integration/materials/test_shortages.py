"""Shortages over HTTP: who may declare and curate, the alternatives and where their stock is."""

import uuid
from decimal import Decimal

from tests.integration.materials.helpers import lot, material, scheduling_caught_up, supplier


async def _alternatives(materials, tokens):
    qualified = await supplier(materials, tokens)
    evaluating = await supplier(materials, tokens, name="Lonza", status="under_evaluation")
    medium = await material(materials, tokens, supplier_id=qualified)
    optimizer = await material(
        materials, tokens, name="CTS OpTmizer", catalogue_number="A1048501", supplier_id=qualified
    )
    x_vivo = await material(materials, tokens, name="X-VIVO 15", catalogue_number="BE02-060Q", supplier_id=evaluating)
    for alternative in (optimizer, x_vivo):
        response = await materials.client.put(f"/v1/materials/{medium}/alternatives",
                                              json={"alternative_id": alternative, "note": "equivalent"},
                                              headers=tokens.admin())  # fmt: skip
        assert response.status_code == 200
    return medium, optimizer, x_vivo


async def test_shortage_shows_qualified_alternatives_and_where_stock_is(materials, scheduling, tokens):
    medium, optimizer, x_vivo = await _alternatives(materials, tokens)
    berlin, vienna = uuid.uuid4(), uuid.uuid4()
    await lot(materials, tokens, berlin, optimizer, "500")
    await lot(materials, tokens, berlin, optimizer, "250.5", expires_in_days=30)
    await lot(materials, tokens, berlin, optimizer, "900", expires_in_days=-3)  # expired: not stock
    await lot(materials, tokens, vienna, optimizer, "100")

    body = {"material_id": medium, "severity": "high", "regions": ["DE", "AT"], "expected_end": "2027-06-30",
            "reason": "supplier recall of two lots"}  # fmt: skip
    declared = await materials.client.post("/v1/shortages", json=body, headers=tokens.regulator())
    assert declared.status_code == 201, declared.text
    shortage = declared.json()
    assert (shortage["status"], shortage["regions"], shortage["created_by"]) == (
        "active",
        ["AT", "DE"],
        "regulator:inspector-1",
    )

    detail = (await materials.client.get(f"/v1/shortages/{shortage['shortage_id']}", headers=tokens.developer())).json()
    assert detail["material"]["material_id"] == medium
    first, second = detail["alternatives"]
    assert (first["material"]["name"], first["qualified"], second["material"]["name"], second["qualified"]) == (
        "CTS OpTmizer", True, "X-VIVO 15", False
    )  # fmt: skip
    stock = {(s["facility_id"], Decimal(s["available"]), s["lots"]) for s in first["stock"]}
    assert stock == {(str(berlin), Decimal("750.5"), 2), (str(vienna), Decimal(100), 1)}
    assert second["stock"] == []

    declared_event = (await materials.outbox_events("gmphub.materials.shortage.declared.v1"))[0]
    assert declared_event["data"]["shortage"]["material_id"] == medium
    await scheduling_caught_up(materials, scheduling)


async def test_who_may_declare_update_and_resolve(materials, scheduling, tokens):
    medium = await material(materials, tokens)
    facility = uuid.uuid4()
    body = {"material_id": medium, "severity": "medium", "regions": ["DE"]}
    assert (await materials.client.post("/v1/shortages", json=body, headers=tokens.developer())).status_code == 403
    no_facility = await materials.client.post("/v1/shortages", json=body, headers=tokens.facility(facility))
    assert no_facility.status_code == 422
    not_theirs = await materials.client.post("/v1/shortages", json=body | {"facility_id": str(uuid.uuid4())},
                                             headers=tokens.facility(facility))  # fmt: skip
    assert not_theirs.status_code == 403
    bad_region = await materials.client.post("/v1/shortages", json=body | {"regions": ["XX1"]}, headers=tokens.admin())
    assert bad_region.status_code == 422
    assert await materials.sql("SELECT count(*) FROM shortage") == [(0,)]

    created = await materials.client.post("/v1/shortages", json=body | {"facility_id": str(facility)},
                                          headers=tokens.facility(facility))  # fmt: skip
    assert created.status_code == 201
    url = f"/v1/shortages/{created.json()['shortage_id']}"
    other = await materials.client.patch(url, json={"severity": "high"}, headers=tokens.facility(uuid.uuid4()))
    assert other.status_code == 403
    updated = await materials.client.patch(url, json={"severity": "critical", "regions": ["DE", "EU"]},
                                           headers=tokens.facility(facility))  # fmt: skip
    assert (updated.json()["severity"], updated.json()["version"]) == ("critical", 2)
    resolved = await materials.client.post(
        f"{url}/resolve", json={"note": "new lots delivered"}, headers=tokens.regulator()
    )
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolution_note"] == "new lots delivered"
    assert (await materials.client.post(f"{url}/resolve", json={}, headers=tokens.admin())).status_code == 409
    assert (await materials.client.patch(url, json={"severity": "low"}, headers=tokens.admin())).status_code == 409

    history = (await materials.client.get(f"{url}/history", headers=tokens.developer())).json()
    assert [(e["type"].split(".")[-2], e["actor"]) for e in history] == [
        ("declared", "facility:facility-user-1"), ("updated", "facility:facility-user-1"), ("resolved", "regulator:inspector-1")
    ]  # fmt: skip
    active = await materials.client.get("/v1/shortages", params={"status": "active"}, headers=tokens.developer())
    assert active.json() == []
    by_region = await materials.client.get("/v1/shortages", params={"region": "eu"}, headers=tokens.developer())
    assert len(by_region.json()) == 1
    await scheduling_caught_up(materials, scheduling)

"""Lots over HTTP: facility scope, exact quantities that never go negative, history."""

import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.integration.materials.helpers import lot, material


async def test_facility_records_its_own_lots_only(materials, tokens):
    facility, other = uuid.uuid4(), uuid.uuid4()
    medium = await material(materials, tokens)
    body = {"material_id": medium, "lot_number": "L1", "expires_on": "2030-01-31", "quantity": "0.1", "unit": "ml"}
    for headers, expected in (
        (tokens.facility(other), 403), (tokens.developer(), 403), (tokens.regulator(), 403), ({}, 401),
    ):  # fmt: skip
        response = await materials.client.post(f"/v1/facilities/{facility}/lots", json=body, headers=headers)
        assert response.status_code == expected, response.text
    created = await materials.client.post(
        f"/v1/facilities/{facility}/lots", json=body, headers=tokens.facility(facility)
    )
    assert created.status_code == 201, created.text
    assert (created.json()["quantity"], created.json()["unit"], created.json()["available"]) == ("0.1", "mL", "0.1")
    again = await materials.client.post(f"/v1/facilities/{facility}/lots", json=body, headers=tokens.facility(facility))
    assert again.status_code == 409

    listing = await materials.client.get(f"/v1/facilities/{facility}/lots", headers=tokens.regulator())
    assert [lot["lot_number"] for lot in listing.json()] == ["L1"]
    assert (
        await materials.client.get(f"/v1/facilities/{facility}/lots", headers=tokens.developer())
    ).status_code == 403


async def test_bad_quantities_are_refused_and_change_nothing(materials, tokens):
    facility = uuid.uuid4()
    medium = await material(materials, tokens)
    base = {"material_id": medium, "lot_number": "L1", "expires_on": "2030-01-31", "quantity": "5", "unit": "mL"}
    for change in ({"quantity": "-1"}, {"quantity": "1.0000001"}, {"quantity": "NaN"}, {"unit": "bucket"},
                   {"material_id": str(uuid.uuid4())}, {"expires_on": "31/01/2030"}):  # fmt: skip
        response = await materials.client.post(
            f"/v1/facilities/{facility}/lots", json=base | change, headers=tokens.facility(facility)
        )
        assert response.status_code == 422, (change, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert await materials.sql("SELECT count(*) FROM lot") == [(0,)]


async def test_counting_a_lot_never_goes_below_reserved_or_zero(materials, tokens):
    facility = uuid.uuid4()
    medium = await material(materials, tokens)
    lot_id = await lot(materials, tokens, facility, medium, "10")
    await materials.sql("UPDATE lot SET reserved = 4 WHERE id = :id", id=uuid.UUID(lot_id))
    url, own = f"/v1/lots/{lot_id}/count", tokens.facility(facility)
    below = await materials.client.post(url, json={"quantity": "3.999999", "reason": "stock-take"}, headers=own)
    assert below.status_code == 409 and "reserved" in below.json()["detail"]
    other_facility = tokens.facility(uuid.uuid4())
    other = await materials.client.post(url, json={"quantity": "8", "reason": "stock-take"}, headers=other_facility)
    assert other.status_code == 403
    counted = await materials.client.post(url, json={"quantity": "8.5", "reason": "one bottle broken"}, headers=own)
    assert counted.status_code == 200 and counted.json()["available"] == "4.5"
    history = (await materials.client.get(f"/v1/lots/{lot_id}/history", headers=tokens.facility(facility))).json()
    assert [(Decimal(e["data"]["quantity"]), e["data"]["reason"]) for e in history] == [
        (10, None), (Decimal("8.5"), "one bottle broken")
    ]  # fmt: skip
    # The database itself refuses negatives and over-reservation, whatever code runs.
    for statement in ("UPDATE lot SET quantity = -1, reserved = 0", "UPDATE lot SET reserved = quantity + 0.000001"):
        with pytest.raises(sa.exc.IntegrityError):
            await materials.sql(statement)


async def test_expired_lots_are_listed_only_on_request(materials, tokens):
    facility = uuid.uuid4()
    medium = await material(materials, tokens)
    await lot(materials, tokens, facility, medium, "1", number="OLD", expires_in_days=-1)
    await lot(materials, tokens, facility, medium, "1", number="NEW")
    url = f"/v1/facilities/{facility}/lots"
    assert [x["lot_number"] for x in (await materials.client.get(url, headers=tokens.admin())).json()] == ["NEW"]
    everything = (await materials.client.get(url, params={"include_expired": "true"}, headers=tokens.admin())).json()
    assert [(x["lot_number"], x["expired"]) for x in everything] == [("OLD", True), ("NEW", False)]

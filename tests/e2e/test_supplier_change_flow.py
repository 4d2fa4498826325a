"""A supplier change reaches the bookings that reserved affected lots, across materials and
scheduling over the real broker: the booking is at risk until its facility accepts the change,
and stays at risk when the facility quarantines the lots."""

import pytest

from tests.e2e.test_key_flows import booking_status, certified_facility, ok, publish_capacity, stock
from tests.support import eventually

pytestmark = pytest.mark.e2e
__all__ = ["certified_facility"]  # the fixture, used by name


async def test_a_booking_holding_affected_lots_is_at_risk_until_its_facility_accepts(
    certified_facility, scheduling, materials, tokens
):
    facility_id, suite_id, _ = certified_facility
    slot_ids = await publish_capacity(scheduling, tokens, facility_id, suite_id)
    material_id = await stock(materials, tokens, facility_id, "1000")
    hold = {"slot_ids": slot_ids[:1], "product": "CAR-T CD19", "run_kind": "development",
            "material_needs": [{"material_id": material_id, "quantity": "400", "unit": "mL"}]}  # fmt: skip
    booking = await ok(await scheduling.client.post("/v1/bookings", json=hold, headers=tokens.developer()), 201)
    booking_id = booking["booking_id"]
    await ok(await scheduling.client.post(f"/v1/bookings/{booking_id}/confirm", headers=tokens.developer()))
    await booking_status(scheduling, tokens, booking_id, "confirmed")
    supplier_id = (await ok(await materials.client.get(f"/v1/materials/{material_id}", headers=tokens.admin())))[
        "supplier"
    ]["supplier_id"]

    async def record(description: str) -> str:
        body = {"supplier_id": supplier_id, "change_type": "formulation", "material_ids": [material_id],
                "description": description, "effective_on": "2027-03-01", "risk_class": "major"}  # fmt: skip
        change = await ok(await materials.client.post("/v1/supplier-changes", json=body, headers=tokens.admin()), 201)
        assert [b["booking_id"] for b in change["bookings"]] == [booking_id]
        return change["supplier_change_id"]

    async def answer(change_id: str, outcome: str) -> None:
        path = f"/v1/supplier-changes/{change_id}/facilities/{facility_id}/answer"
        body = {"outcome": outcome, "assessment": "Reviewed by QA"}
        await ok(await materials.client.post(path, json=body, headers=tokens.facility(facility_id)))

    async def reasons(expected: list[str]) -> list[str]:
        b = await ok(await scheduling.client.get(f"/v1/bookings/{booking_id}", headers=tokens.developer()))
        assert [r.split("; ")[-1] for r in b["at_risk_reasons"]] == expected, b["at_risk_reasons"]
        return b["at_risk_reasons"]

    first = await record("New stabiliser in the basal medium")
    [reason] = await eventually(lambda: reasons(["the facility has not assessed it yet."]))
    assert "formulation, major, effective 2027-03-01" in reason and "New stabiliser" in reason
    await answer(first, "accepted")
    await eventually(lambda: reasons([]))  # accepted: no longer at risk

    second = await record("Filling moves to a second site")
    await eventually(lambda: reasons(["the facility has not assessed it yet."]))
    await answer(second, "quarantine_lots")
    await eventually(lambda: reasons(["the facility quarantined them."]))
    history = await ok(await scheduling.client.get(f"/v1/bookings/{booking_id}/history", headers=tokens.developer()))
    changed = [e for e in history if e["type"] == "gmphub.scheduling.booking.at_risk_changed.v1"]
    assert len(changed) == 4 and changed[1]["data"]["booking"]["at_risk_reasons"] == []  # flagged, cleared, twice

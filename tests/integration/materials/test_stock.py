"""Where a material is stocked, over HTTP on the real database: per facility, what its unexpired lots
still have free, readable by every signed-in role, the lots themselves staying the facility's."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.scheduling.events import BookingConfirmed
from tests.integration.materials.helpers import booking, lot, material, scheduling_caught_up, supplier
from tests.support import eventually


async def reserve_all_of(materials, scheduling, facility_id, material_id, quantity) -> None:
    """A booking confirmed at the facility, needing `quantity`: the saga reserves it from the lots."""
    state = booking(facility_id, [(material_id, quantity, "mL")])
    async with scheduling.context.db.unit_of_work("test:scheduling") as uow:
        uow.emit(BookingConfirmed(booking_id=state.booking_id, booking=state))
        await uow.commit()

    async def reserved():
        found = await materials.outbox_events("gmphub.materials.reservation.confirmed.v1")
        assert [e for e in found if e["subject"] == str(state.booking_id)], "not reserved yet"
        return True

    await eventually(reserved, timeout=10.0)


async def test_stock_is_summed_per_facility_without_expired_or_reserved_lots(materials, scheduling, tokens):
    medium = await material(materials, tokens, supplier_id=await supplier(materials, tokens))
    other = await material(materials, tokens, name="CTS OpTmizer")
    berlin, leiden, lyon = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await lot(materials, tokens, berlin, medium, "500", number="SOON", expires_in_days=100)  # reserved below
    await lot(materials, tokens, berlin, medium, "200", number="LATER", expires_in_days=400)
    await lot(materials, tokens, berlin, medium, "900", number="OLD", expires_in_days=-1)  # expired yesterday
    await lot(materials, tokens, leiden, medium, "100")
    await lot(materials, tokens, leiden, medium, "50.25", expires_in_days=0)  # usable through today
    await lot(materials, tokens, leiden, other, "7000")  # another material: not counted
    await lot(materials, tokens, lyon, medium, "300", expires_in_days=-30)  # only expired stock: not listed
    await reserve_all_of(materials, scheduling, berlin, medium, "500")  # takes SOON, the earliest expiry, whole

    url = f"/v1/materials/{medium}/stock"
    response = await materials.client.get(url, headers=tokens.developer())
    assert response.status_code == 200, response.text
    today = datetime.now(UTC).date()
    assert [(s["facility_id"], Decimal(s["available"]), s["unit"], s["lots"], s["earliest_expiry"])
            for s in response.json()] == [
        (str(berlin), Decimal(200), "mL", 1, str(today + timedelta(days=400))),
        (str(leiden), Decimal("150.25"), "mL", 2, str(today)),
    ]  # fmt: skip
    assert set(response.json()[0]) == {"facility_id", "available", "unit", "lots", "earliest_expiry"}, "no lot's own"

    # The same notion of available as each lot's read (which the facility and regulators see).
    for facility in (berlin, leiden, lyon):
        lots = await materials.client.get(
            f"/v1/facilities/{facility}/lots", params={"material_id": medium}, headers=tokens.regulator()
        )
        available = sum(Decimal(x["available"]) for x in lots.json())
        listed = [Decimal(s["available"]) for s in response.json() if s["facility_id"] == str(facility)]
        assert listed == ([available] if available else []), facility

    for headers in (tokens.facility(lyon), tokens.regulator(), tokens.admin()):
        assert (await materials.client.get(url, headers=headers)).json() == response.json()
    assert (await materials.client.get(url)).status_code == 401
    assert (await materials.client.get(f"/v1/materials/{other}/stock", headers=tokens.developer())).json()[0][
        "available"
    ] == "7000"
    await scheduling_caught_up(materials, scheduling)


async def test_a_material_stocked_nowhere_is_an_empty_list_and_an_unknown_one_a_404_problem(materials, tokens):
    medium = await material(materials, tokens)
    nowhere = await materials.client.get(f"/v1/materials/{medium}/stock", headers=tokens.developer())
    assert (nowhere.status_code, nowhere.json()) == (200, [])

    unknown = await materials.client.get(f"/v1/materials/{uuid.uuid4()}/stock", headers=tokens.developer())
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "material" in unknown.json()["detail"]

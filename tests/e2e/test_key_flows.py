"""The design's key flows across all four services, through their APIs only, over the real
broker: certify a facility, publish capacity, book, reserve materials, suspend, approve."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.integration.shared.test_registry_to_scheduling import FACILITY
from tests.support import eventually

pytestmark = pytest.mark.e2e
JSON = {"Content-Type": "application/json"}


async def ok(response, status=200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
async def certified_facility(registry, scheduling, materials, approvals, tokens):
    """Flow 1: onboarded, a suite with capabilities, a GMP certificate; scheduling knows it."""
    onboarded = FACILITY | {"oms_organisation_id": "ORG-100001699", "oms_location_id": "LOC-100000151"}
    facility = await ok(await registry.client.post("/v1/facilities", json=onboarded, headers=tokens.admin()), 201)
    facility_id = facility["facility_id"]
    suite = await ok(
        await registry.client.post(
            f"/v1/facilities/{facility_id}/suites",
            json={"name": "Suite 2 (CAR-T)", "cleanroom_grade": "B", "atmp_types": ["somatic_cell_therapy"],
                  "processes": ["car_t"]},
            headers=tokens.facility(facility_id),
        ),
        201,
    )  # fmt: skip
    today = date.today()
    certificate = await ok(
        await registry.client.post(
            f"/v1/facilities/{facility_id}/certificates",
            json={"number": "DE-PEI-GMP-2026-0117", "issued_on": str(today - timedelta(days=30)),
                  "expires_on": str(today + timedelta(days=900)), "atmp_types": ["somatic_cell_therapy"],
                  "operations": ["aseptic_manufacture"]},
            headers=tokens.regulator("DE-PEI"),
        ),
        201,
    )  # fmt: skip
    return facility_id, suite["suite_id"], certificate["certificate_id"]


async def publish_capacity(scheduling, tokens, facility_id, suite_id, days=3) -> list[str]:
    start = (datetime.now(UTC) + timedelta(days=30)).replace(hour=8, minute=0, second=0, microsecond=0)
    body = {"suite_id": suite_id, "window": {"starts_at": start.isoformat(),
            "ends_at": (start + timedelta(days=days)).isoformat(), "slot_minutes": 24 * 60}}  # fmt: skip

    async def published():  # scheduling must first learn of the certificate from registry's events
        response = await scheduling.client.post(
            f"/v1/facilities/{facility_id}/capacity", json=body, headers=tokens.facility(facility_id)
        )
        assert response.status_code == 201, response.text
        return response.json()

    capacity = await eventually(published, timeout=10)
    return [slot["slot_id"] for slot in capacity["slots"]]


async def stock(materials, tokens, facility_id, quantity: str) -> str:
    supplier = await ok(
        await materials.client.post("/v1/suppliers", json={"name": "Miltenyi Biotec", "country": "DE",
                                    "qualification_status": "qualified"}, headers=tokens.admin()),
        201,
    )  # fmt: skip
    material = await ok(
        await materials.client.post(
            "/v1/materials",
            json={"name": "TexMACS GMP Medium", "category": "cell_culture_medium", "grade": "gmp",
                  "origin": "animal_origin_free", "catalogue_number": "170-076-306",
                  "supplier_id": supplier["supplier_id"]},
            headers=tokens.admin(),
        ),
        201,
    )  # fmt: skip
    await ok(
        await materials.client.post(
            f"/v1/facilities/{facility_id}/lots",
            json={"material_id": material["material_id"], "lot_number": "L2026-0413",
                  "expires_on": str(date.today() + timedelta(days=365)), "quantity": quantity, "unit": "mL"},
            headers=tokens.facility(facility_id),
        ),
        201,
    )  # fmt: skip
    return material["material_id"]


async def booking_status(scheduling, tokens, booking_id, *wanted):
    async def reached():
        booking = await ok(await scheduling.client.get(f"/v1/bookings/{booking_id}", headers=tokens.developer()))
        assert booking["status"] in wanted, booking["status"]
        return booking

    return await eventually(reached, timeout=10)


async def test_book_confirm_reserve_suspend_and_reinstate(certified_facility, registry, scheduling, materials, tokens):
    facility_id, suite_id, certificate_id = certified_facility
    slot_ids = await publish_capacity(scheduling, tokens, facility_id, suite_id)
    material_id = await stock(materials, tokens, facility_id, "1000")

    # Flow 3: find and hold; a retried request with the same Idempotency-Key books nothing more.
    found = await ok(await scheduling.client.get("/v1/slots", params={"country": "DE", "process": "car_t"},
                                                 headers=tokens.developer()))  # fmt: skip
    assert {s["slot_id"] for s in found["items"]} == set(slot_ids)
    assert {s["facility_oms_location_id"] for s in found["items"]} == {"LOC-100000151"}  # from registry's events
    hold = {"slot_ids": slot_ids[:2], "product": "CAR-T CD19", "run_kind": "development",
            "material_needs": [{"material_id": material_id, "quantity": "400", "unit": "mL"}]}  # fmt: skip
    key = tokens.developer() | {"Idempotency-Key": "hold-7"}
    booking = await ok(await scheduling.client.post("/v1/bookings", json=hold, headers=key), 201)
    again = await ok(await scheduling.client.post("/v1/bookings", json=hold, headers=key), 201)
    assert again["booking_id"] == booking["booking_id"]
    rival = await scheduling.client.post("/v1/bookings", json=hold, headers=tokens.developer("ORG-2"))
    assert rival.status_code == 409

    # Flow 4: confirming starts the saga; materials reserves, the booking ends confirmed.
    await ok(await scheduling.client.post(f"/v1/bookings/{booking['booking_id']}/confirm", headers=tokens.developer()))
    await booking_status(scheduling, tokens, booking["booking_id"], "confirmed")
    reservation = await ok(await materials.client.get(f"/v1/reservations/{booking['booking_id']}",
                                                      headers=tokens.admin()))  # fmt: skip
    assert reservation["status"] == "confirmed"

    # A second booking needing more than is left ends materials_short, with what is short.
    greedy = hold | {"slot_ids": slot_ids[2:], "material_needs": [{"material_id": material_id, "quantity": "700",
                                                                   "unit": "mL"}]}  # fmt: skip
    short = await ok(await scheduling.client.post("/v1/bookings", json=greedy, headers=tokens.developer()), 201)
    await ok(await scheduling.client.post(f"/v1/bookings/{short['booking_id']}/confirm", headers=tokens.developer()))
    short = await booking_status(scheduling, tokens, short["booking_id"], "materials_short")
    assert short["shortfalls"][0]["material_id"] == material_id
    listed = await ok(await scheduling.client.get("/v1/orgs/ORG-1/bookings", params={"status": "materials_short"},
                                                  headers=tokens.developer()))  # fmt: skip
    assert [b["booking_id"] for b in listed] == [short["booking_id"]]

    # Flow 6: a suspended certificate flags the future booking at risk; reinstating clears it.
    regulator = tokens.regulator("DE-PEI")
    await ok(await registry.client.post(f"/v1/certificates/{certificate_id}/suspend",
                                        json={"reason": "Sterility failures"}, headers=regulator))  # fmt: skip

    async def flagged(expected: bool):
        b = await ok(await scheduling.client.get(f"/v1/bookings/{booking['booking_id']}", headers=tokens.developer()))
        assert b["at_risk"] is expected, b["at_risk_reasons"]
        return b

    at_risk = await eventually(lambda: flagged(True))
    assert any("suspended" in reason for reason in at_risk["at_risk_reasons"])
    await ok(await registry.client.post(f"/v1/certificates/{certificate_id}/reinstate",
                                        json={"reason": "CAPA verified"}, headers=regulator))  # fmt: skip
    await eventually(lambda: flagged(False))

    # Cancelling frees the slots and releases the reservation.
    await ok(await scheduling.client.post(f"/v1/bookings/{booking['booking_id']}/cancel", json={},
                                          headers=tokens.developer()))  # fmt: skip

    async def released():
        r = await ok(await materials.client.get(f"/v1/reservations/{booking['booking_id']}", headers=tokens.admin()))
        assert r["status"] == "released", r["status"]
        return r

    await eventually(released)


async def test_a_clinical_run_needs_an_approval_covering_the_facility(
    certified_facility, scheduling, approvals, tokens
):
    facility_id, suite_id, _ = certified_facility
    slot_ids = await publish_capacity(scheduling, tokens, facility_id, suite_id, days=2)
    clinical = {"slot_ids": slot_ids[:1], "product": "CAR-T CD19", "run_kind": "clinical"}
    developer, regulator = tokens.developer(), tokens.regulator("DE-PEI")

    approval = await ok(
        await approvals.client.post(
            "/v1/approvals",
            json={"level": "parent", "covers": "platform", "title": "CD19 CAR-T platform", "authority": "DE-PEI",
                  "facility_ids": [facility_id]},
            headers=developer,
        ),
        201,
    )  # fmt: skip
    approval_id = approval["approval_id"]
    refused = await scheduling.client.post("/v1/bookings", json=clinical | {"approval_id": approval_id},
                                           headers=developer)  # fmt: skip
    assert refused.status_code in (409, 422), refused.text  # a draft approval covers nothing yet

    await ok(await approvals.client.post(f"/v1/approvals/{approval_id}/submit", headers=developer))
    await ok(await approvals.client.post(f"/v1/approvals/{approval_id}/review", headers=regulator))
    await ok(await approvals.client.post(
        f"/v1/approvals/{approval_id}/decision",
        json={"outcome": "approved", "meaning": "Approved by DE-PEI", "reason": "Platform acceptable"},
        headers=regulator,
    ))  # fmt: skip

    async def booked():
        response = await scheduling.client.post("/v1/bookings", json=clinical | {"approval_id": approval_id},
                                                headers=developer)  # fmt: skip
        assert response.status_code == 201, response.text
        return response.json()

    booking = await eventually(booked)
    assert (booking["run_kind"], booking["approval_id"]) == ("clinical", approval_id)


async def test_an_answer_lost_on_the_way_is_asked_for_again_and_silence_is_escalated(
    certified_facility, scheduling, materials, tokens
):
    """Flow 4's deadline: materials' answer never reached scheduling (as when a memory broker lost
    it); past the deadline scheduling asks again and materials sends the answer it stored, reserving
    nothing twice. Unanswered requests beyond the limit flag the booking for everyone to see."""
    from services.scheduling import bookings, jobs

    facility_id, suite_id, _ = certified_facility
    slot_ids = await publish_capacity(scheduling, tokens, facility_id, suite_id, days=2)
    material_id = await stock(materials, tokens, facility_id, "1000")
    need = [{"material_id": material_id, "quantity": "250", "unit": "mL"}]
    hold = {"slot_ids": slot_ids[:1], "product": "CAR-T CD19", "run_kind": "development", "material_needs": need}
    booking = await ok(await scheduling.client.post("/v1/bookings", json=hold, headers=tokens.developer()), 201)
    booking_id = booking["booking_id"]
    await ok(await scheduling.client.post(f"/v1/bookings/{booking_id}/confirm", headers=tokens.developer()))
    await booking_status(scheduling, tokens, booking_id, "confirmed")

    # As if materials' answer had been lost: scheduling still awaits it, asked 31 s ago.
    await scheduling.sql(
        "UPDATE booking SET status = 'held', materials_requested_at = now() - interval '31 seconds',"
        " materials_asked_at = now() - interval '31 seconds' WHERE id = :b",
        b=booking_id,
    )
    await scheduling.sql("UPDATE slot SET status = 'held' WHERE booking_id = :b", b=booking_id)
    assert await jobs.ask_materials_again_once(scheduling.context) == 1  # past the 30 s deadline
    await booking_status(scheduling, tokens, booking_id, "confirmed")
    answers = [e for e in await materials.outbox_events("gmphub.materials.reservation.confirmed.v1")
               if e["data"]["booking_id"] == booking_id]  # fmt: skip
    assert len(answers) == 2 and answers[0]["data"]["lines"] == answers[1]["data"]["lines"]
    assert answers[0]["id"] != answers[1]["id"]  # the stored answer, as a new event
    [lot] = await materials.sql("SELECT reserved FROM lot")
    assert lot.reserved == 250  # reserved once

    # Nobody answers at all: after the last allowed request the booking is escalated, once.
    other = await ok(await scheduling.client.post("/v1/bookings", json=hold | {"slot_ids": slot_ids[1:2]},
                                                  headers=tokens.developer()), 201)  # fmt: skip
    await scheduling.sql(
        "UPDATE booking SET materials_requested_at = now() - interval '1 hour', materials_attempts = 5,"
        " materials_asked_at = now() - interval '1 hour' WHERE id = :b",
        b=other["booking_id"],
    )  # confirmed in scheduling's eyes, but materials never heard of it
    async with materials.context.db.engine.connect() as busy:  # materials cannot answer while the lot is locked
        await busy.execute(sa.text("SELECT id FROM lot FOR UPDATE"))
        async with scheduling.context.db.unit_of_work("service:scheduling-saga") as uow:
            assert await bookings.ask_materials_again(uow, retry_seconds=30, max_attempts=5) == [
                uuid.UUID(other["booking_id"])
            ]
            await uow.commit()
        seen = await ok(
            await scheduling.client.get(f"/v1/bookings/{other['booking_id']}", headers=tokens.facility(facility_id))
        )
        assert seen["awaiting_materials"] and seen["materials_overdue_since"] is not None
        [escalated] = [e for e in await scheduling.outbox_events("gmphub.scheduling.booking.escalated.v1")
                       if e["data"]["booking_id"] == other["booking_id"]]  # fmt: skip
        assert escalated["data"]["attempts"] == 5 and escalated["actor"] == "service:scheduling-saga"
        await busy.rollback()
    # The sixth request reaches materials, whose answer settles the booking and clears the flag.
    settled = await booking_status(scheduling, tokens, other["booking_id"], "confirmed")
    assert settled["materials_overdue_since"] is None and settled["materials_attempts"] == 6

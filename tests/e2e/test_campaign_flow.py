"""A manufacturing campaign across the services, through their APIs only, over the real broker:
two facilities quote a request, the developer accepts one, the campaign is confirmed and materials
reserves every batch at once; a certificate suspension flags each batch at risk, the calendar feed
lists each batch, and cancelling the campaign releases every batch's lots."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.e2e.test_key_flows import certified_facility, ok, publish_capacity, stock
from tests.integration.shared.test_registry_to_scheduling import FACILITY
from tests.support import eventually

pytestmark = pytest.mark.e2e
__all__ = ["certified_facility"]  # the fixture, used here as in the key flows


async def test_request_quotes_campaign_confirmed_reserved_flagged_per_batch_and_cancelled(
    certified_facility, registry, scheduling, materials, tokens
):
    berlin, suite, certificate_id = certified_facility
    other = FACILITY | {"legal_name": "Charité CAR-T Unit 2", "oms_organisation_id": "ORG-100001700",
                        "oms_location_id": "LOC-100000152", "authorisation_number": "DE_BE_01_MIA_2024_0043"}  # fmt: skip
    second = (await ok(await registry.client.post("/v1/facilities", json=other, headers=tokens.admin()), 201))[
        "facility_id"
    ]
    second_suite = await ok(await registry.client.post(
        f"/v1/facilities/{second}/suites", headers=tokens.facility(second),
        json={"name": "Suite 1", "cleanroom_grade": "B", "atmp_types": ["somatic_cell_therapy"], "processes": ["car_t"]},
    ), 201)  # fmt: skip
    await ok(await registry.client.post(
        f"/v1/facilities/{second}/certificates", headers=tokens.regulator("DE-PEI"),
        json={"number": "DE-PEI-GMP-2026-0118", "issued_on": str(date.today() - timedelta(days=30)),
              "expires_on": str(date.today() + timedelta(days=900)),
              "atmp_types": ["somatic_cell_therapy"], "operations": ["aseptic_manufacture"]},
    ), 201)  # fmt: skip
    slots = {berlin: await publish_capacity(scheduling, tokens, berlin, suite),
             second: await publish_capacity(scheduling, tokens, second, second_suite["suite_id"])}  # fmt: skip
    medium = await stock(materials, tokens, berlin, "1000")
    developer = tokens.developer()

    request = await ok(await scheduling.client.post("/v1/requests", headers=developer, json={
        "facility_ids": [berlin, second], "product": "CD19 CAR-T", "atmp_type": "somatic_cell_therapy",
        "process": "car_t", "batches": 3, "batch_days": 1, "earliest_start": str(date.today()),
        "latest_end": str(date.today() + timedelta(days=60)), "run_kind": "development",
        "material_needs": [{"material_id": medium, "quantity": "300", "unit": "mL"}],
    }), 201)  # fmt: skip
    quotes = {}
    for facility_id, price in ((berlin, "52000.00"), (second, "49000.00")):
        quotes[facility_id] = await ok(await scheduling.client.post(
            f"/v1/requests/{request['request_id']}/quotes", headers=tokens.facility(facility_id),
            json={"slot_ids": slots[facility_id], "currency": "EUR", "price_per_batch": price,
                  "valid_until": (datetime.now(UTC) + timedelta(days=7)).isoformat()},
        ), 201)  # fmt: skip
    accepted = await ok(await scheduling.client.post(
        f"/v1/requests/{request['request_id']}/quotes/{quotes[berlin]['quote_id']}/accept", headers=developer
    ))  # fmt: skip
    path = f"/v1/campaigns/{accepted['campaign_id']}"

    await ok(await scheduling.client.post(f"{path}/confirm", headers=developer))

    async def confirmed():
        campaign = await ok(await scheduling.client.get(path, headers=developer))
        assert campaign["status"] == "confirmed", campaign["status"]
        return campaign

    campaign = await eventually(confirmed, timeout=10)
    batch_ids = [b["booking_id"] for b in campaign["batches"]]
    for booking_id in batch_ids:
        reservation = await ok(await materials.client.get(f"/v1/reservations/{booking_id}", headers=tokens.admin()))
        assert (reservation["status"], reservation["lines"][0]["quantity"]) == ("confirmed", "300")

    # A suspension flags every batch at risk (each a booking); reinstating clears them.
    regulator = tokens.regulator("DE-PEI")
    await ok(await registry.client.post(f"/v1/certificates/{certificate_id}/suspend",
                                        json={"reason": "Sterility failures"}, headers=regulator))  # fmt: skip

    async def flagged(expected: bool):
        for booking_id in batch_ids:
            batch = await ok(await scheduling.client.get(f"/v1/bookings/{booking_id}", headers=developer))
            assert batch["at_risk"] is expected, batch["at_risk_reasons"]
        return True

    await eventually(lambda: flagged(True))
    await ok(await registry.client.post(f"/v1/certificates/{certificate_id}/reinstate",
                                        json={"reason": "CAPA verified"}, headers=regulator))  # fmt: skip
    await eventually(lambda: flagged(False))

    # The organisation's calendar lists each batch as a run of its own.
    token = developer["Authorization"].removeprefix("Bearer ")
    feed = await scheduling.client.get("/v1/orgs/ORG-1/bookings.ics", params={"token": token})
    assert feed.status_code == 200 and all(booking_id in feed.text for booking_id in batch_ids)

    # Cancelling the campaign frees every slot and releases every batch's lots.
    cancelled = await ok(await scheduling.client.post(f"{path}/cancel", json={}, headers=developer))
    assert [b["status"] for b in cancelled["batches"]] == ["cancelled"] * 3

    async def released():
        for booking_id in batch_ids:
            r = await ok(await materials.client.get(f"/v1/reservations/{booking_id}", headers=tokens.admin()))
            assert r["status"] == "released", r["status"]
        return True

    await eventually(released)


async def test_a_campaigns_lost_answer_is_asked_for_again_and_silence_is_escalated(
    certified_facility, scheduling, materials, tokens
):
    """The saga's deadline, as a booking's: materials' answer never reached scheduling; past the
    deadline scheduling asks again and materials sends the answer it stored, reserving nothing
    twice. Unanswered requests beyond the limit flag the campaign (and count in the overdue gauge)."""
    from services.scheduling import campaigns, jobs, queries

    facility_id, suite_id, _ = certified_facility
    slot_ids = await publish_capacity(scheduling, tokens, facility_id, suite_id, days=2)
    medium = await stock(materials, tokens, facility_id, "1000")
    developer = tokens.developer()
    request = await ok(await scheduling.client.post("/v1/requests", headers=developer, json={
        "facility_ids": [facility_id], "product": "CD19 CAR-T", "atmp_type": "somatic_cell_therapy",
        "process": "car_t", "batches": 2, "batch_days": 1, "earliest_start": str(date.today()),
        "latest_end": str(date.today() + timedelta(days=60)), "run_kind": "development",
        "material_needs": [{"material_id": medium, "quantity": "250", "unit": "mL"}],
    }), 201)  # fmt: skip
    quote = await ok(await scheduling.client.post(
        f"/v1/requests/{request['request_id']}/quotes", headers=tokens.facility(facility_id),
        json={"slot_ids": slot_ids, "currency": "EUR", "price_per_batch": "52000",
              "valid_until": (datetime.now(UTC) + timedelta(days=7)).isoformat()},
    ), 201)  # fmt: skip
    accepted = await ok(await scheduling.client.post(
        f"/v1/requests/{request['request_id']}/quotes/{quote['quote_id']}/accept", headers=developer
    ))  # fmt: skip
    campaign_id, path = accepted["campaign_id"], f"/v1/campaigns/{accepted['campaign_id']}"
    await ok(await scheduling.client.post(f"{path}/confirm", headers=developer))

    async def settled():
        campaign = await ok(await scheduling.client.get(path, headers=developer))
        assert (campaign["status"], campaign["awaiting_materials"]) == ("confirmed", False), campaign["status"]
        return campaign

    await eventually(settled, timeout=10)

    # As if materials' answer had been lost: scheduling still awaits it, asked 31 s ago.
    await scheduling.sql(
        "UPDATE campaign SET status = 'held', materials_requested_at = now() - interval '31 seconds',"
        " materials_asked_at = now() - interval '31 seconds' WHERE id = :c",
        c=campaign_id,
    )
    await scheduling.sql("UPDATE booking SET status = 'held' WHERE campaign_id = :c", c=campaign_id)
    await scheduling.sql(
        "UPDATE slot SET status = 'held' WHERE booking_id IN (SELECT id FROM booking WHERE campaign_id = :c)",
        c=campaign_id,
    )
    assert await jobs.ask_materials_again_once(scheduling.context) == 1  # past the 30 s deadline
    await eventually(settled, timeout=10)
    answers = [e for e in await materials.outbox_events("gmphub.materials.campaign_reservation.confirmed.v1")
               if e["data"]["campaign_id"] == campaign_id]  # fmt: skip
    assert len(answers) == 2 and answers[0]["data"] == answers[1]["data"] and answers[0]["id"] != answers[1]["id"]
    [lot] = await materials.sql("SELECT reserved FROM lot")
    assert lot.reserved == 500  # two batches' 250 mL, reserved once

    # Nobody answers at all: after the last allowed request the campaign is escalated, once.
    await scheduling.sql(
        "UPDATE campaign SET status = 'held', materials_requested_at = now() - interval '1 hour',"
        " materials_attempts = 5, materials_asked_at = now() - interval '1 hour' WHERE id = :c",
        c=campaign_id,
    )
    await scheduling.sql("UPDATE booking SET status = 'held' WHERE campaign_id = :c", c=campaign_id)
    async with materials.context.db.engine.connect() as busy:  # materials cannot answer while the lot is locked
        await busy.execute(sa.text("SELECT id FROM lot FOR UPDATE"))
        async with scheduling.context.db.unit_of_work("service:scheduling-campaign-saga") as uow:
            assert await campaigns.ask_materials_again(uow, retry_seconds=30, max_attempts=5) == [
                uuid.UUID(campaign_id)
            ]
            await uow.commit()
        seen = await ok(await scheduling.client.get(path, headers=tokens.facility(facility_id)))
        assert seen["awaiting_materials"] and seen["materials_overdue_since"] is not None
        async with scheduling.context.db.sessions() as session:
            assert await queries.overdue_sagas(session) == 1
        [escalated] = await scheduling.outbox_events("gmphub.scheduling.campaign.escalated.v1")
        assert escalated["data"]["attempts"] == 5 and escalated["actor"] == "service:scheduling-campaign-saga"
        await busy.rollback()
    # The sixth request reaches materials, whose stored answer settles the campaign and clears the flag.
    done = await eventually(settled, timeout=10)
    assert done["materials_overdue_since"] is None and done["materials_attempts"] == 6

"""Holds expire by themselves, from the time kept in the database: also across a restart."""

from services.scheduling import jobs
from tests.integration.scheduling.helpers import another_instance, certified_site, hold, publish
from tests.support import eventually


async def test_a_hold_made_before_a_restart_expires_after_it(registry, scheduling, tokens, settings):
    site = await certified_site(registry, scheduling)
    slot_id = (await publish(scheduling, tokens, site, count=1))[0]["slot_id"]
    async with another_instance(settings, job_interval_seconds=3600) as old:  # makes the hold, then stops
        response = await old.post(
            "/v1/bookings",
            json={"slot_ids": [slot_id], "product": "AAV9-SMN1", "run_kind": "engineering"},
            headers=tokens.developer("ORG-1"),
        )
        assert response.status_code == 201, response.text
    booking_id = response.json()["booking_id"]
    # time passes while no instance runs
    await scheduling.sql("UPDATE booking SET hold_expires_at = now() - interval '1 second' WHERE id = :b", b=booking_id)
    async with another_instance(settings, job_interval_seconds=0.1):  # a new instance starts

        async def expired():
            rows = await scheduling.sql("SELECT status FROM booking WHERE id = :b", b=booking_id)
            return rows[0].status == "expired"

        await eventually(expired, timeout=5.0)
    assert (await scheduling.sql("SELECT status, booking_id FROM slot WHERE id = :s", s=slot_id)) == [("open", None)]
    [event] = await scheduling.outbox_events("gmphub.scheduling.booking.expired.v1")
    assert event["data"]["booking"]["status"] == "expired" and event["actor"] == "service:scheduling-hold-expiry"
    again = await hold(scheduling, tokens, [slot_id], org="ORG-2")
    assert again.status_code == 201, again.text


async def test_confirming_stops_the_clock_and_an_expired_hold_cannot_be_confirmed(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    late = (await hold(scheduling, tokens, [slots[0]])).json()
    await scheduling.sql(
        "UPDATE booking SET hold_expires_at = now() - interval '1 second' WHERE id = :b", b=late["booking_id"]
    )
    refused = await scheduling.client.post(
        f"/v1/bookings/{late['booking_id']}/confirm", headers=tokens.developer("ORG-1")
    )
    assert refused.status_code == 409 and "expired" in refused.json()["detail"]

    need = {"material_id": "5b0c3c36-4a36-4d0f-9a57-1b5a4c7a1f10", "quantity": "2.5", "unit": "mL"}
    waiting = (await hold(scheduling, tokens, [slots[1]], material_needs=[need])).json()
    confirmed = await scheduling.client.post(
        f"/v1/bookings/{waiting['booking_id']}/confirm", headers=tokens.developer("ORG-1")
    )
    assert confirmed.status_code == 200 and confirmed.json()["awaiting_materials"] is True
    assert confirmed.json()["hold_expires_at"] is None
    await jobs.expire_holds_once(scheduling.context)
    rows = await scheduling.sql("SELECT status, hold_expires_at FROM booking ORDER BY starts_at")
    assert rows[0] == ("expired", None)
    assert rows[1].status in ("held", "materials_short")  # awaiting materials: not expired

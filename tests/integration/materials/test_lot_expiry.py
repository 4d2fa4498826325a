"""Lots past their expiry date are marked expired by themselves, with one event each however many
replicas run the job at once; the event says what bookings still hold of the lot."""

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.materials import jobs, main
from services.scheduling.events import BookingConfirmed
from tests.integration.materials.helpers import booking, lot, material, scheduling_caught_up, supplier
from tests.integration.materials.test_reservations import outcome, publish
from tests.support import eventually

EXPIRED = "gmphub.materials.lot.expired.v1"
RECORDED = "gmphub.materials.lot.recorded.v1"


def today():
    return datetime.now(UTC).date()


async def test_replicas_racing_expire_each_lot_once_and_name_what_is_still_reserved(materials, scheduling, tokens):
    facility = uuid.uuid4()
    medium = await material(materials, tokens, supplier_id=await supplier(materials, tokens))
    # Recording a lot already past its date is allowed, as before; the job marks it like any other.
    due = [
        await lot(materials, tokens, facility, medium, "10", number=f"DUE-{i}", expires_in_days=-1) for i in range(3)
    ]
    last_day = await lot(materials, tokens, facility, medium, "10", number="LAST-DAY", expires_in_days=0)
    fresh = await lot(materials, tokens, facility, medium, "10", number="FRESH", expires_in_days=90)
    # A run starting before the lot's expiry reserves from it; then the lot passes its date mid-run.
    held = await lot(materials, tokens, facility, medium, "500", number="HELD", expires_in_days=3)
    run = booking(facility, [(medium, "120.5", "mL")], starts_in_days=1)
    await publish(scheduling, BookingConfirmed(booking_id=run.booking_id, booking=run))
    [confirmed] = await outcome(materials, "gmphub.materials.reservation.confirmed.v1", run.booking_id)
    yesterday = today() - timedelta(days=1)
    await materials.sql("UPDATE lot SET expires_on = :d WHERE id = :id", d=yesterday, id=uuid.UUID(held))

    done = await asyncio.gather(*(jobs.expire_lots_once(materials.context) for _ in range(4)))
    again = [await jobs.expire_lots_once(materials.context) for _ in range(2)]

    assert sum(done) <= 4 and again == [0, 0]  # the hub's own job may have taken some first
    events = await materials.outbox_events(EXPIRED)
    assert sorted(e["subject"] for e in events) == sorted([*due, held])  # one each, never twice
    assert all(e["actor"] == jobs.LOT_EXPIRY_ACTOR for e in events)
    [on_held] = [e["data"] for e in events if e["subject"] == held]
    assert (on_held["lot_number"], on_held["version"], on_held["expires_on"]) == (
        "HELD", 2, str(yesterday)
    )  # fmt: skip
    assert (Decimal(on_held["quantity"]), Decimal(on_held["reserved"]), on_held["unit"]) == (
        500,
        Decimal("120.5"),
        "mL",
    )
    assert on_held["holds"] == [{
        "booking_id": str(run.booking_id), "reservation_id": confirmed["data"]["reservation_id"],
        "quantity": "120.5", "unit": "mL",
    }]  # fmt: skip
    assert all(Decimal(e["data"]["reserved"]) == 0 and e["data"]["holds"] == [] for e in events if e["subject"] != held)

    # The lot's read shows the mark; its stock stays on the books (reserved for the run), and
    # nothing of it is available any more. Its history tells when and by whom.
    own = tokens.facility(facility)
    read = (await materials.client.get(f"/v1/lots/{held}", headers=own)).json()
    assert (read["expired"], read["quantity"], read["reserved"], read["available"]) == (True, "500", "120.5", "0")
    assert read["expired_at"] is not None and read["updated_by"] == jobs.LOT_EXPIRY_ACTOR and read["version"] == 2
    history = (await materials.client.get(f"/v1/lots/{held}/history", headers=own)).json()
    assert [(e["type"], e["actor"]) for e in history][-1] == (EXPIRED, jobs.LOT_EXPIRY_ACTOR)
    # A lot is usable through its expiry day: expiring today is not expired yet.
    for lot_id in (last_day, fresh):
        read = (await materials.client.get(f"/v1/lots/{lot_id}", headers=own)).json()
        assert (read["expired"], read["expired_at"], read["available"], read["version"]) == (False, None, "10", 1)
    rows = await materials.sql("SELECT lot_number FROM lot WHERE expired_at IS NULL ORDER BY lot_number")
    assert [r.lot_number for r in rows] == ["FRESH", "LAST-DAY"]

    # A count after expiry (writing off what was destroyed) carries the mark in its event.
    counted = await materials.client.post(
        f"/v1/lots/{due[0]}/count", json={"quantity": "0", "reason": "destroyed after expiry"}, headers=own
    )
    assert counted.status_code == 200, counted.text
    recorded = [e for e in await materials.outbox_events(RECORDED) if e["subject"] == due[0]][-1]
    assert recorded["data"]["expired_at"] is not None and recorded["data"]["reason"] == "destroyed after expiry"
    await scheduling_caught_up(materials, scheduling)


async def test_the_background_job_is_wired_and_marks_by_itself(materials, tokens):
    assert jobs.expire_lots in main.spec.jobs  # every replica runs it, like the other services' jobs
    facility = uuid.uuid4()
    medium = await material(materials, tokens)
    old = await lot(materials, tokens, facility, medium, "1", number="OLD", expires_in_days=-30)
    settings = materials.context.settings.model_copy(update={"job_interval_seconds": 0.05})
    fast = replace(materials.context, settings=settings)
    job = asyncio.create_task(jobs.expire_lots(fast))
    try:

        async def expired():
            events = await materials.outbox_events(EXPIRED)
            assert events, "not expired yet"
            return events

        [event] = await eventually(expired, timeout=5.0)
        assert event["subject"] == old and event["actor"] == jobs.LOT_EXPIRY_ACTOR
        await asyncio.sleep(0.2)  # a few more rounds change nothing
        assert len(await materials.outbox_events(EXPIRED)) == 1
    finally:
        job.cancel()


async def test_asyncapi_documents_the_lot_expired_event(materials):
    document = (await materials.client.get("/asyncapi.json")).json()
    names = {m["name"] for m in document["components"]["messages"].values()}
    assert EXPIRED in names

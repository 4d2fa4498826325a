"""The reservation saga on the real database and broker: BookingConfirmed and BookingCancelled are
emitted through scheduling's outbox, materials reserves or releases and says so in its events."""

import asyncio
import uuid
from decimal import Decimal

from services.materials import inventory
from services.scheduling.events import BookingCancelled, BookingCompleted, BookingConfirmed
from tests.integration.materials.helpers import booking, lot, material, scheduling_caught_up, supplier
from tests.support import eventually

CONFIRMED = "gmphub.materials.reservation.confirmed.v1"
FAILED = "gmphub.materials.reservation.failed.v1"
RELEASED = "gmphub.materials.reservation.released.v1"


async def publish(scheduling, event):
    async with scheduling.context.db.unit_of_work("test:scheduling") as uow:
        uow.emit(event)
        await uow.commit()


async def outcome(materials, event_type, booking_id):
    async def seen():
        found = [e for e in await materials.outbox_events(event_type) if e["subject"] == str(booking_id)]
        assert found, f"no {event_type} for {booking_id}"
        return found

    return await eventually(seen, timeout=10.0)


async def lot_stock(materials, lot_id):
    [(quantity, reserved)] = await materials.sql(
        "SELECT quantity, reserved FROM lot WHERE id = :id", id=uuid.UUID(lot_id)
    )
    return quantity, reserved


async def test_confirm_reserves_earliest_expiry_first_and_cancel_releases(materials, scheduling, tokens):
    facility = uuid.uuid4()
    medium = await material(materials, tokens, supplier_id=await supplier(materials, tokens))
    later = await lot(materials, tokens, facility, medium, "500", number="LATE", expires_in_days=400)
    sooner = await lot(materials, tokens, facility, medium, "300.5", number="SOON", expires_in_days=100)
    elsewhere = await lot(materials, tokens, uuid.uuid4(), medium, "9999")  # another facility's stock
    state = booking(facility, [(medium, "400.25", "mL")])
    await publish(scheduling, BookingConfirmed(booking_id=state.booking_id, booking=state))

    [confirmed] = await outcome(materials, CONFIRMED, state.booking_id)
    lines = confirmed["data"]["lines"]
    assert [(line["lot_number"], Decimal(line["quantity"])) for line in lines] == [
        ("SOON", Decimal("300.5")), ("LATE", Decimal("99.75"))
    ]  # fmt: skip
    assert await lot_stock(materials, sooner) == (Decimal("300.5"), Decimal("300.5"))
    assert await lot_stock(materials, later) == (Decimal(500), Decimal("99.75"))
    assert await lot_stock(materials, elsewhere) == (Decimal(9999), 0)
    read = await materials.client.get(f"/v1/reservations/{state.booking_id}", headers=tokens.facility(facility))
    assert read.status_code == 200 and read.json()["status"] == "confirmed" and len(read.json()["lines"]) == 2
    other = await materials.client.get(f"/v1/reservations/{state.booking_id}", headers=tokens.facility(uuid.uuid4()))
    assert other.status_code == 403
    developer = await materials.client.get(f"/v1/reservations/{state.booking_id}", headers=tokens.developer())
    assert developer.status_code == 403
    listed = await materials.client.get(f"/v1/facilities/{facility}/reservations", headers=tokens.regulator())
    assert [r["booking_id"] for r in listed.json()] == [str(state.booking_id)]

    # The same request again (a new envelope: scheduling asking past its saga deadline) reserves
    # nothing more; materials sends the answer it stored once more.
    await publish(scheduling, BookingConfirmed(booking_id=state.booking_id, booking=state, attempt=2))
    cancelled = state.model_copy(update={"version": 3, "status": "cancelled"})
    for _ in range(2):  # the second cancellation finds nothing left to release
        await publish(scheduling, BookingCancelled(booking_id=state.booking_id, booking=cancelled, reason="paused"))
    await outcome(materials, RELEASED, state.booking_id)

    async def both_cancellations_handled():
        assert await materials.sql("SELECT count(*) FROM processed_event WHERE type LIKE '%cancelled%'") == [(2,)]
        return True

    await eventually(both_cancellations_handled)
    assert len(await materials.outbox_events(RELEASED)) == 1
    first, again = await materials.outbox_events(CONFIRMED)
    assert again["data"] == first["data"] and again["id"] != first["id"]
    assert await lot_stock(materials, sooner) == (Decimal("300.5"), 0)
    assert await lot_stock(materials, later) == (Decimal(500), 0)
    history = (
        await materials.client.get(f"/v1/reservations/{state.booking_id}/history", headers=tokens.admin())
    ).json()
    assert [e["type"] for e in history] == [CONFIRMED, CONFIRMED, RELEASED]
    assert all(e["causationid"] for e in history)  # each names the booking event that caused it
    await scheduling_caught_up(materials, scheduling)


async def test_short_stock_fails_whole_booking_and_reserves_nothing(materials, scheduling, tokens):
    facility = uuid.uuid4()
    medium = await material(materials, tokens)
    il2 = await material(materials, tokens, name="IL-2", catalogue_number=None, category="cytokine_growth_factor")
    medium_lot = await lot(materials, tokens, facility, medium, "1000")
    await lot(materials, tokens, facility, il2, "40", unit="µg")
    await lot(materials, tokens, facility, il2, "500", unit="µg", expires_in_days=10)  # expires before the run
    state = booking(facility, [(medium, "100", "mL"), (il2, "0.05", "mg")])
    await publish(scheduling, BookingConfirmed(booking_id=state.booking_id, booking=state))

    [failed] = await outcome(materials, FAILED, state.booking_id)
    assert [(s["material_id"], Decimal(s["requested"]), Decimal(s["available"]), s["unit"])
            for s in failed["data"]["shortfalls"]] == [(il2, Decimal("0.05"), Decimal("0.04"), "mg")]  # fmt: skip
    assert await lot_stock(materials, medium_lot) == (Decimal(1000), 0)
    assert await materials.sql("SELECT count(*) FROM reservation_line") == [(0,)]

    # Stock arrives and scheduling confirms again (a newer version): this time it reserves.
    await lot(materials, tokens, facility, il2, "100", unit="µg")
    retry = state.model_copy(update={"version": 4})
    await publish(scheduling, BookingConfirmed(booking_id=state.booking_id, booking=retry))
    await outcome(materials, CONFIRMED, state.booking_id)
    assert await lot_stock(materials, medium_lot) == (Decimal(1000), Decimal(100))
    await scheduling_caught_up(materials, scheduling)


async def test_booking_without_needs_is_confirmed_with_no_lines_and_completion_consumes(materials, scheduling, tokens):
    empty = booking(uuid.uuid4(), [])
    await publish(scheduling, BookingConfirmed(booking_id=empty.booking_id, booking=empty))
    [confirmed] = await outcome(materials, CONFIRMED, empty.booking_id)
    assert confirmed["data"]["lines"] == []

    facility = uuid.uuid4()
    medium = await material(materials, tokens)
    lot_id = await lot(materials, tokens, facility, medium, "10")
    state = booking(facility, [(medium, "4", "mL")])
    await publish(scheduling, BookingConfirmed(booking_id=state.booking_id, booking=state))
    await outcome(materials, CONFIRMED, state.booking_id)
    done = state.model_copy(update={"version": 3, "status": "completed"})
    await publish(scheduling, BookingCompleted(booking_id=state.booking_id, booking=done))
    await outcome(materials, "gmphub.materials.reservation.consumed.v1", state.booking_id)
    assert await lot_stock(materials, lot_id) == (Decimal(6), 0)
    history = (await materials.client.get(f"/v1/lots/{lot_id}/history", headers=tokens.facility(facility))).json()
    assert [Decimal(e["data"]["quantity"]) for e in history] == [10, 6]
    await scheduling_caught_up(materials, scheduling)


async def test_concurrent_reservations_never_over_commit(materials, scheduling, tokens):
    """50 bookings race for stock that serves 12 of them: exactly 12 win, nothing is over-committed."""
    facility = uuid.uuid4()
    medium = await material(materials, tokens)
    lots = [await lot(materials, tokens, facility, medium, q, expires_in_days=100 + i)
            for i, q in enumerate(["10.5", "7.25", "12.25"])]  # 30 mL in all  # fmt: skip
    states = [booking(facility, [(medium, "2.5", "mL")]) for _ in range(50)]

    async def reserve(state):
        async with materials.context.db.unit_of_work("service:materials") as uow:
            await inventory.reserve_for_booking(uow, BookingConfirmed(booking_id=state.booking_id, booking=state))
            await uow.commit()

    await asyncio.gather(*(reserve(s) for s in states))

    rows = await materials.sql("SELECT status, count(*) FROM reservation GROUP BY status ORDER BY status")
    assert rows == [("confirmed", 12), ("failed", 38)]
    [(reserved_total,)] = await materials.sql("SELECT sum(quantity) FROM reservation_line")
    assert reserved_total == Decimal("30.00")
    for lot_id in lots:
        quantity, reserved = await lot_stock(materials, lot_id)
        [(lines,)] = await materials.sql(
            "SELECT coalesce(sum(quantity), 0) FROM reservation_line WHERE lot_id = :id", id=uuid.UUID(lot_id)
        )
        assert reserved == lines <= quantity
    # Every confirmed booking got exactly 2.5 mL; none was split into more or less.
    per_booking = await materials.sql("SELECT sum(quantity) FROM reservation_line GROUP BY reservation_id")
    assert {total for (total,) in per_booking} == {Decimal("2.5")}
    await scheduling_caught_up(materials, scheduling)

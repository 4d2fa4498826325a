"""A campaign's reservation on the real database and broker: CampaignConfirmed and CampaignCancelled
are emitted through scheduling's outbox; materials reserves every batch in one transaction or none,
answers once for the campaign, answers again the same way when asked again, and releases."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.scheduling.events import (
    BatchToReserve,
    CampaignBatch,
    CampaignCancelled,
    CampaignConfirmed,
    CampaignState,
    MaterialNeed,
)
from tests.integration.materials.helpers import lot, material, scheduling_caught_up
from tests.integration.materials.test_reservations import lot_stock, publish
from tests.support import eventually

CONFIRMED = "gmphub.materials.campaign_reservation.confirmed.v1"
FAILED = "gmphub.materials.campaign_reservation.failed.v1"
RELEASED = "gmphub.materials.reservation.released.v1"


def campaign(facility_id, material_id, batches: int, *, version: int = 2) -> tuple[CampaignState, list[BatchToReserve]]:
    """A campaign of `batches` weekly batches from a month ahead, each needing 10 mL."""
    start = datetime.now(UTC) + timedelta(days=30)
    reserve = [
        BatchToReserve(booking_id=uuid.uuid4(), starts_at=start + timedelta(weeks=n),
                       material_needs=[MaterialNeed(material_id=material_id, quantity=Decimal(10), unit="mL")])
        for n in range(batches)
    ]  # fmt: skip
    state = CampaignState(
        campaign_id=uuid.uuid4(), version=version, status="held", request_id=uuid.uuid4(), quote_id=uuid.uuid4(),
        org_id="ORG-1", facility_id=facility_id, product="CAR-T CD19", run_kind="development",
        batches=[CampaignBatch(batch=n + 1, booking_id=b.booking_id, status="held", suite_id=uuid.uuid4(),
                               slot_ids=[uuid.uuid4()], starts_at=b.starts_at, ends_at=b.starts_at + timedelta(days=1))
                 for n, b in enumerate(reserve)],
    )  # fmt: skip
    return state, reserve


async def answers(materials, event_type, campaign_id, count: int = 1) -> list[dict]:
    async def seen():
        found = [e for e in await materials.outbox_events(event_type) if e["subject"] == str(campaign_id)]
        assert len(found) == count, f"{len(found)} {event_type} for {campaign_id}"
        return found

    return await eventually(seen, timeout=10.0)


async def reservations(materials, reserve) -> list[str]:
    rows = await materials.sql(
        "SELECT booking_id, status FROM reservation WHERE booking_id = ANY(:ids)", ids=[b.booking_id for b in reserve]
    )
    found = dict(rows)
    return [found.get(b.booking_id) for b in reserve]


async def test_every_batch_is_reserved_at_once_answered_again_alike_and_released(materials, scheduling, tokens):
    facility = uuid.uuid4()
    medium = await material(materials, tokens)
    medium_lot = await lot(materials, tokens, facility, medium, "25")
    state, reserve = campaign(facility, medium, 2)
    await publish(scheduling, CampaignConfirmed(campaign_id=state.campaign_id, campaign=state, reserve=reserve))

    [answer] = await answers(materials, CONFIRMED, state.campaign_id)  # by start, the earliest run first
    assert [(b["booking_id"], [Decimal(line["quantity"]) for line in b["lines"]]) for b in answer["data"]["batches"]] == [
        (str(b.booking_id), [Decimal(10)]) for b in reserve
    ]  # fmt: skip
    assert await lot_stock(materials, medium_lot) == (Decimal(25), Decimal(20))
    assert await reservations(materials, reserve) == ["confirmed", "confirmed"]

    # Asked again (the saga's deadline): nothing more is reserved; the stored answer comes again.
    again = CampaignConfirmed(campaign_id=state.campaign_id, campaign=state, reserve=reserve, attempt=2)
    await publish(scheduling, again)
    first, second = await answers(materials, CONFIRMED, state.campaign_id, count=2)
    assert second["data"] == first["data"] and second["id"] != first["id"]
    assert await lot_stock(materials, medium_lot) == (Decimal(25), Decimal(20))

    # Cancelled (twice: the second finds nothing left): every batch released once.
    cancelled = state.model_copy(update={"version": 3, "status": "cancelled"})
    for _ in range(2):
        await publish(scheduling, CampaignCancelled(campaign_id=state.campaign_id, campaign=cancelled, reason="paused"))

    async def released():
        assert await reservations(materials, reserve) == ["released", "released"]
        assert await materials.sql("SELECT count(*) FROM processed_event WHERE type LIKE '%campaign.cancelled%'") == [
            (2,)
        ]
        return True

    await eventually(released)
    assert len([e for e in await materials.outbox_events(RELEASED)]) == 2
    assert await lot_stock(materials, medium_lot) == (Decimal(25), 0)
    await scheduling_caught_up(materials, scheduling)


async def test_a_batch_drawing_on_several_lots_is_answered_again_with_its_lines_in_the_same_order(
    materials, scheduling, tokens
):
    facility = uuid.uuid4()
    medium = await material(materials, tokens)
    for quantity, days in (("12", 100), ("3", 200), ("3", 300), ("10", 400)):  # the second batch takes from all four
        await lot(materials, tokens, facility, medium, quantity, expires_in_days=days)
    state, reserve = campaign(facility, medium, 2)
    await publish(scheduling, CampaignConfirmed(campaign_id=state.campaign_id, campaign=state, reserve=reserve))
    [first] = await answers(materials, CONFIRMED, state.campaign_id)
    assert [len(b["lines"]) for b in first["data"]["batches"]] == [1, 4]
    await publish(
        scheduling, CampaignConfirmed(campaign_id=state.campaign_id, campaign=state, reserve=reserve, attempt=2)
    )
    _, second = await answers(materials, CONFIRMED, state.campaign_id, count=2)
    assert second["data"] == first["data"]  # the lines as allocated (earliest expiry first), not as stored
    await scheduling_caught_up(materials, scheduling)


async def test_one_batch_short_reserves_nothing_and_a_newer_version_after_restocking_reserves_all(
    materials, scheduling, tokens
):
    facility = uuid.uuid4()
    medium = await material(materials, tokens)
    medium_lot = await lot(materials, tokens, facility, medium, "25")  # two batches' worth, not three
    state, reserve = campaign(facility, medium, 3)
    await publish(scheduling, CampaignConfirmed(campaign_id=state.campaign_id, campaign=state, reserve=reserve))

    [failed] = await answers(materials, FAILED, state.campaign_id)
    by_batch = {b["booking_id"]: b["shortfalls"] for b in failed["data"]["batches"]}
    last = str(reserve[-1].booking_id)  # the latest run: the earlier two took what there was
    assert {b: s for b, s in by_batch.items() if s} == {
        last: [{"material_id": medium, "requested": "10", "available": "5", "unit": "mL"}]
    }  # fmt: skip
    assert await lot_stock(materials, medium_lot) == (Decimal(25), 0)
    assert await materials.sql("SELECT count(*) FROM reservation_line") == [(0,)]
    assert await reservations(materials, reserve) == ["failed"] * 3

    await lot(materials, tokens, facility, medium, "5")
    newer = state.model_copy(update={"version": 4})
    await publish(scheduling, CampaignConfirmed(campaign_id=state.campaign_id, campaign=newer, reserve=reserve))
    await answers(materials, CONFIRMED, state.campaign_id)
    assert await reservations(materials, reserve) == ["confirmed"] * 3
    assert await lot_stock(materials, medium_lot) == (Decimal(25), Decimal(25))
    await scheduling_caught_up(materials, scheduling)

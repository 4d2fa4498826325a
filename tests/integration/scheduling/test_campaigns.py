"""Campaigns over the real database and broker, with the real materials service answering: an
accepted quote becomes a campaign whose batches hold its slots; confirming it asks materials once for
every batch, which reserves them all in one transaction or none; afterwards batches are moved,
cancelled and completed one by one. Refusals are problem+json and change nothing; two moves racing
for one slot never both win."""

import asyncio
import uuid

from tests.integration.materials.helpers import lot, material, scheduling_caught_up
from tests.integration.scheduling.helpers import (
    certified_site,
    publish,
    send_quote,
    send_request,
    slot_states,
)
from tests.support import eventually


def ids(slots: list[dict]) -> list[str]:
    return [s["slot_id"] for s in slots]


def need(material_id: str, quantity: str = "10") -> dict:
    return {"material_id": material_id, "quantity": quantity, "unit": "mL"}


async def campaign_of(scheduling, tokens, request: dict, quote: dict) -> dict:
    """The developer accepts the quote; the answer names the campaign it became."""
    accepted = await scheduling.client.post(
        f"/v1/requests/{request['request_id']}/quotes/{quote['quote_id']}/accept", headers=tokens.developer()
    )
    assert accepted.status_code == 200, accepted.text
    campaign = await scheduling.client.get(
        f"/v1/campaigns/{accepted.json()['campaign_id']}", headers=tokens.developer()
    )
    assert campaign.status_code == 200, campaign.text
    return campaign.json()


async def settled(scheduling, tokens, campaign_id: str, status: str) -> dict:
    async def answered():
        seen = (await scheduling.client.get(f"/v1/campaigns/{campaign_id}", headers=tokens.developer())).json()
        return seen["status"] == status and not seen["awaiting_materials"] and seen

    return await eventually(answered, timeout=15.0)


async def reservations(materials, booking_ids) -> dict[str, str]:
    rows = await materials.sql(
        "SELECT booking_id::text AS b, status FROM reservation WHERE booking_id = ANY(:ids)",
        ids=[uuid.UUID(b) for b in booking_ids],
    )
    return {r.b: r.status for r in rows}


async def reserved_in(materials, lot_id: str) -> str:
    [row] = await materials.sql("SELECT reserved FROM lot WHERE id = :id", id=uuid.UUID(lot_id))
    return f"{row.reserved.normalize():f}"


async def test_an_accepted_quote_becomes_a_campaign_confirmed_and_reserved_as_a_whole_then_run_batch_by_batch(
    registry, scheduling, materials, tokens
):
    a, b = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    a_slots, b_slots = ids(await publish(scheduling, tokens, a, count=5)), ids(await publish(scheduling, tokens, b))
    medium = await material(materials, tokens)
    medium_lot = await lot(materials, tokens, str(a.facility_id), medium, 100)
    developer, facility = tokens.developer(), tokens.facility(a.facility_id)

    # A request to two facilities, two quotes side by side; the developer accepts A's.
    request = await send_request(scheduling, tokens, a.facility_id, b.facility_id, batches=3,
                                 material_needs=[need(medium)])  # fmt: skip
    quote_a = (await send_quote(scheduling, tokens, request, a.facility_id, a_slots[:3])).json()
    quote_b = (await send_quote(scheduling, tokens, request, b.facility_id, b_slots[:3], currency="CHF")).json()
    assert (quote_a["status"], quote_b["status"]) == ("offered", "offered")
    campaign = await campaign_of(scheduling, tokens, request, quote_a)
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    assert (campaign["status"], campaign["quote_id"], campaign["hold_expires_at"] is not None) == (
        "held", quote_a["quote_id"], True
    )  # fmt: skip
    batches = campaign["batches"]
    assert [(x["batch"], x["status"], x["slot_ids"]) for x in batches] == [
        (n, "held", [s]) for n, s in enumerate(a_slots[:3], start=1)
    ]
    # The quoted slots are held for the batches' bookings (one statement); B's opened again.
    assert await slot_states(scheduling, a_slots[:3]) == {
        s: ("held", None, x["booking_id"]) for s, x in zip(a_slots[:3], batches, strict=True)
    }
    assert {v[0] for v in (await slot_states(scheduling, b_slots[:3])).values()} == {"open"}
    batch_ids = [x["booking_id"] for x in batches]
    booking = (await scheduling.client.get(f"/v1/bookings/{batch_ids[0]}", headers=developer)).json()
    assert (booking["campaign_id"], booking["material_needs"][0]["material_id"]) == (campaign["campaign_id"], medium)

    # A batch is never confirmed alone; the campaign is, by its developer only.
    alone = await scheduling.client.post(f"/v1/bookings/{batch_ids[0]}/confirm", headers=developer)
    assert alone.status_code == 409 and "is a batch of campaign" in alone.json()["detail"]
    assert alone.headers["content-type"].startswith("application/problem+json")
    for headers in (facility, tokens.developer("ORG-2")):
        refused = await scheduling.client.post(f"{path}/confirm", headers=headers)
        assert refused.status_code in (403, 404), refused.text

    confirmed = await scheduling.client.post(f"{path}/confirm", headers=developer)
    assert confirmed.status_code == 200, confirmed.text
    again = await scheduling.client.post(f"{path}/confirm", headers=developer)  # idempotent while materials answers
    assert again.status_code == 200 and again.json()["version"] == confirmed.json()["version"]
    done = await settled(scheduling, tokens, campaign["campaign_id"], "confirmed")
    assert [x["status"] for x in done["batches"]] == ["confirmed"] * 3
    assert {v[0] for v in (await slot_states(scheduling, a_slots[:3])).values()} == {"booked"}
    assert await reservations(materials, batch_ids) == dict.fromkeys(batch_ids, "confirmed")
    assert await reserved_in(materials, medium_lot) == "30"
    assert len(await scheduling.outbox_events("gmphub.scheduling.campaign.confirmed.v1")) == 1  # asked once
    assert len(await materials.outbox_events("gmphub.materials.campaign_reservation.confirmed.v1")) == 1
    twice = await scheduling.client.post(f"{path}/confirm", headers=developer)
    assert twice.status_code == 409 and "is confirmed" in twice.json()["detail"]

    # Batch 1 moves to another open slot of the facility: the old one opens, its lots stay with it.
    moved = await scheduling.client.post(
        f"{path}/batches/{batch_ids[0]}/reschedule", json={"slot_id": a_slots[3], "reason": "Suite requalification"},
        headers=facility,
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert [x["slot_ids"] for x in moved.json()["batches"]] == [[a_slots[1]], [a_slots[2]], [a_slots[3]]]
    assert (await slot_states(scheduling, [a_slots[0]]))[a_slots[0]] == ("open", None, None)
    assert (await slot_states(scheduling, [a_slots[3]]))[a_slots[3]] == ("booked", None, batch_ids[0])
    assert await reservations(materials, [batch_ids[0]]) == {batch_ids[0]: "confirmed"}

    # Batch 2 is cancelled: its slot opens and materials releases that batch alone.
    no_reason = await scheduling.client.post(f"{path}/batches/{batch_ids[1]}/cancel", json={}, headers=facility)
    assert no_reason.status_code == 422
    cancelled = await scheduling.client.post(f"{path}/batches/{batch_ids[1]}/cancel", json={}, headers=developer)
    assert cancelled.status_code == 200, cancelled.text
    assert {x["booking_id"]: x["status"] for x in cancelled.json()["batches"]}[batch_ids[1]] == "cancelled"
    assert cancelled.json()["status"] == "confirmed"  # the others still run
    assert (await slot_states(scheduling, [a_slots[1]]))[a_slots[1]] == ("open", None, None)

    async def released():
        return await reservations(materials, [batch_ids[1]]) == {batch_ids[1]: "released"}

    await eventually(released, timeout=10.0)
    assert await reserved_in(materials, medium_lot) == "20"

    # Batch 3 runs (its start moved into the past), batch 1 is cancelled: the campaign is completed.
    await scheduling.sql(
        "UPDATE booking SET starts_at = now() - interval '1 hour' WHERE id::text = :id", id=batch_ids[2]
    )
    ran = await scheduling.client.post(f"{path}/batches/{batch_ids[2]}/complete", headers=facility)
    assert ran.status_code == 200, ran.text
    last = await scheduling.client.post(f"{path}/batches/{batch_ids[0]}/cancel", json={}, headers=developer)
    assert last.json()["status"] == "completed"
    assert {x["booking_id"]: x["status"] for x in last.json()["batches"]} == dict(
        zip(batch_ids, ["cancelled", "cancelled", "completed"], strict=True)
    )

    # Every step in the campaign's history, with its actor; lists; strangers see nothing.
    history = (await scheduling.client.get(f"{path}/history", headers=developer)).json()
    steps = [(".".join(e["type"].split(".")[2:4]), e["actor"]) for e in history]
    assert steps[:4] == [("booking.held", "developer:dev-1")] * 3 + [("campaign.held", "developer:dev-1")]
    assert ("campaign.confirmed", "developer:dev-1") in steps
    assert ("campaign.materials_reserved", "service:scheduling") in steps
    assert ("booking.rescheduled", "facility:facility-user-1") in steps
    assert steps[-2:] == [("booking.cancelled", "developer:dev-1"), ("campaign.completed", "developer:dev-1")]
    rescheduled = next(e for e in history if e["type"].endswith("booking.rescheduled.v1"))
    assert (rescheduled["data"]["reason"], rescheduled["data"]["from_slot_ids"]) == (
        "Suite requalification",
        [a_slots[0]],
    )
    listed = (await scheduling.client.get("/v1/orgs/ORG-1/campaigns", headers=developer)).json()
    assert [c["campaign_id"] for c in listed] == [campaign["campaign_id"]]
    at_facility = (await scheduling.client.get(f"/v1/facilities/{a.facility_id}/campaigns", headers=facility)).json()
    assert [c["campaign_id"] for c in at_facility] == [campaign["campaign_id"]]
    assert (await scheduling.client.get(path, headers=tokens.developer("ORG-2"))).status_code == 404
    assert (
        await scheduling.client.get(f"/v1/facilities/{b.facility_id}/campaigns", headers=facility)
    ).status_code == 403
    await scheduling_caught_up(materials, scheduling)


async def test_one_batch_short_leaves_the_whole_campaign_materials_short_with_nothing_reserved(
    registry, scheduling, materials, tokens
):
    site = await certified_site(registry, scheduling)
    slots = ids(await publish(scheduling, tokens, site, count=3))
    medium = await material(materials, tokens)
    first_lot = await lot(materials, tokens, str(site.facility_id), medium, 25)  # two batches' worth, not three
    request = await send_request(scheduling, tokens, site.facility_id, batches=3, material_needs=[need(medium)])
    quote = (await send_quote(scheduling, tokens, request, site.facility_id, slots)).json()
    campaign = await campaign_of(scheduling, tokens, request, quote)
    path, batch_ids = f"/v1/campaigns/{campaign['campaign_id']}", [x["booking_id"] for x in campaign["batches"]]

    assert (await scheduling.client.post(f"{path}/confirm", headers=tokens.developer())).status_code == 200
    short = await settled(scheduling, tokens, campaign["campaign_id"], "materials_short")
    assert [x["status"] for x in short["batches"]] == ["materials_short"] * 3
    # The latest batch is the one the lots could not serve after the two before it.
    assert short["shortfalls"] == [{"booking_id": short["batches"][2]["booking_id"], "shortfalls": [
        {"material_id": medium, "requested": "10", "available": "5", "unit": "mL"}
    ]}]  # fmt: skip
    assert short["hold_expires_at"] is not None  # a fresh hold to restock and confirm again, or cancel
    # Nothing reserved, read in materials' own database: no batch took its 10 mL.
    assert await reserved_in(materials, first_lot) == "0"
    assert await reservations(materials, batch_ids) == dict.fromkeys(batch_ids, "failed")
    assert {v[0] for v in (await slot_states(scheduling, slots)).values()} == {"held"}

    # Restocked, confirmed again (a new version of the campaign): all three reserved at once.
    await lot(materials, tokens, str(site.facility_id), medium, 10)
    assert (await scheduling.client.post(f"{path}/confirm", headers=tokens.developer())).status_code == 200
    done = await settled(scheduling, tokens, campaign["campaign_id"], "confirmed")
    assert [x["status"] for x in done["batches"]] == ["confirmed"] * 3 and done["shortfalls"] == []
    assert await reservations(materials, batch_ids) == dict.fromkeys(batch_ids, "confirmed")

    # Cancelling the whole campaign frees every slot and releases every batch.
    whole = await scheduling.client.post(
        f"{path}/cancel", json={"reason": "Programme stopped"}, headers=tokens.developer()
    )
    assert (whole.json()["status"], whole.json()["cancel_reason"]) == ("cancelled", "Programme stopped")
    assert {v[0] for v in (await slot_states(scheduling, slots)).values()} == {"open"}

    async def all_released():
        return await reservations(materials, batch_ids) == dict.fromkeys(batch_ids, "released")

    await eventually(all_released, timeout=10.0)
    assert await reserved_in(materials, first_lot) == "0"
    await scheduling_caught_up(materials, scheduling)


async def test_bad_batch_changes_are_refused_and_change_nothing_and_racing_moves_never_both_win(
    registry, scheduling, materials, tokens
):
    site, other = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    slots = ids(await publish(scheduling, tokens, site, count=4))
    elsewhere = ids(await publish(scheduling, tokens, other, count=1))
    request = await send_request(scheduling, tokens, site.facility_id, batches=2)
    quote = (await send_quote(scheduling, tokens, request, site.facility_id, slots[:2])).json()
    campaign = await campaign_of(scheduling, tokens, request, quote)
    path, batch_ids = f"/v1/campaigns/{campaign['campaign_id']}", [x["booking_id"] for x in campaign["batches"]]
    developer = tokens.developer()

    def move(batch_id, slot_id):
        return scheduling.client.post(f"{path}/batches/{batch_id}/reschedule",
                                      json={"slot_id": str(slot_id), "reason": "Moved by QA"}, headers=developer)  # fmt: skip

    refusals = [
        (await move(batch_ids[0], elsewhere[0]), 422, "within its facility"),
        (await move(batch_ids[0], uuid.uuid4()), 404, "No slot"),
        (await move(batch_ids[0], slots[1]), 409, "is held, not open"),
        (await move(uuid.uuid4(), slots[2]), 404, "No batch"),
        (await scheduling.client.post(f"{path}/batches/{batch_ids[0]}/complete", headers=tokens.facility(site.facility_id)),
         409, "only a confirmed booking"),
    ]  # fmt: skip
    for response, status, said in refusals:
        assert response.status_code == status and said in response.json()["detail"], response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    unchanged = (await scheduling.client.get(path, headers=developer)).json()
    assert (unchanged["version"], [x["slot_ids"] for x in unchanged["batches"]]) == (1, [[slots[0]], [slots[1]]])
    assert {v[0] for v in (await slot_states(scheduling, slots[2:] + elsewhere)).values()} == {"open"}

    # Nothing to reserve: confirmed at once. Then both batches race for one open slot: one wins.
    confirmed = await scheduling.client.post(f"{path}/confirm", headers=developer)
    assert confirmed.json()["status"] == "confirmed", confirmed.text
    results = await asyncio.gather(move(batch_ids[0], slots[3]), move(batch_ids[1], slots[3]))
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    winner = batch_ids[0] if results[0].status_code == 200 else batch_ids[1]
    assert (await slot_states(scheduling, [slots[3]]))[slots[3]] == ("booked", None, winner)
    seen = (await scheduling.client.get(path, headers=developer)).json()
    assert sorted(s for x in seen["batches"] for s in x["slot_ids"]) == sorted(
        [slots[3], slots[1] if winner == batch_ids[0] else slots[0]]
    )
    booked = await scheduling.sql("SELECT count(*) AS n FROM slot WHERE status = 'booked' AND id = ANY(:ids)",
                                  ids=[uuid.UUID(s) for s in slots])  # fmt: skip
    assert booked[0].n == 2  # two batches, two booked slots: never one slot for both
    await scheduling_caught_up(materials, scheduling)

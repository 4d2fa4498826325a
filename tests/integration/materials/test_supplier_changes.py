"""Supplier change notifications over the API, the real database and broker: a change reaches
every facility holding lots of the named materials and the bookings whose reservations hold them;
each facility answers once, and quarantined lots are never reserved again."""

import asyncio
import json
import uuid
from datetime import date
from decimal import Decimal

from services.scheduling.events import BookingConfirmed
from tests.integration.materials.helpers import booking, lot, material, scheduling_caught_up, supplier
from tests.integration.materials.test_reservations import outcome, publish
from tests.support import eventually, read_topic

RECORDED = "gmphub.materials.supplier_change.recorded.v1"
ANSWERED = "gmphub.materials.supplier_change.answered.v1"
QUARANTINED = "gmphub.materials.lot.quarantined.v1"
PROBLEM = "application/problem+json"


async def stocked(materials, tokens):
    """CellGenix's medium (lots at A and B) and buffer (a lot at A); another supplier's material at C."""
    cellgenix = await supplier(materials, tokens, name="CellGenix")
    medium = await material(
        materials, tokens, supplier_id=cellgenix, name="CellGenix GMP SCGM", catalogue_number="20802"
    )
    buffer = await material(materials, tokens, supplier_id=cellgenix, name="CellGenix buffer", catalogue_number="20803")
    other = await material(materials, tokens, supplier_id=await supplier(materials, tokens), name="Other medium")
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lots = {
        "a_medium": await lot(materials, tokens, a, medium, "500", number="A-MED"),
        "a_buffer": await lot(materials, tokens, a, buffer, "10", number="A-BUF", unit="L"),
        "b_medium": await lot(materials, tokens, b, medium, "200", number="B-MED"),
        "c_other": await lot(materials, tokens, c, other, "200", number="C-OTH"),
    }
    return cellgenix, medium, buffer, other, (a, b, c), lots


def notification(supplier_id, *material_ids, **kw) -> dict:
    return {
        "supplier_id": supplier_id, "change_type": "site", "material_ids": [str(m) for m in material_ids],
        "description": "Basal medium manufacture moves from Freiburg to Porto", "effective_on": "2027-03-01",
        "risk_class": "major", **kw,
    }  # fmt: skip


async def test_a_supplier_change_reaches_facilities_and_bookings_and_each_answers(
    materials, scheduling, tokens, settings
):
    cellgenix, medium, buffer, _, (a, b, c), lots = await stocked(materials, tokens)
    run = booking(a, [(medium, "100", "mL")])
    await publish(scheduling, BookingConfirmed(booking_id=run.booking_id, booking=run))
    await outcome(materials, "gmphub.materials.reservation.confirmed.v1", run.booking_id)

    response = await materials.client.post(
        "/v1/supplier-changes", json=notification(cellgenix, medium, buffer), headers=tokens.admin()
    )
    assert response.status_code == 201, response.text
    change = response.json()
    change_id = change["supplier_change_id"]
    reached = {f["facility_id"]: f for f in change["facilities"]}
    assert set(reached) == {str(a), str(b)}  # not C: it holds none of the supplier's named materials
    assert sorted(reached[str(a)]["lot_ids"]) == sorted([lots["a_medium"], lots["a_buffer"]])
    assert reached[str(b)]["lot_ids"] == [lots["b_medium"]] and reached[str(b)]["outcome"] is None
    assert change["bookings"] == [{
        "booking_id": str(run.booking_id), "reservation_id": change["bookings"][0]["reservation_id"],
        "facility_id": str(a), "lot_ids": [lots["a_medium"]],
    }]  # fmt: skip
    assert (change["risk_class"], change["change_type"], change["outstanding_facilities"]) == ("major", "site", 2)
    [event] = await materials.outbox_events(RECORDED)
    assert event["subject"] == change_id and event["actor"] == "admin:hub-operator"
    assert event["data"]["bookings"][0]["booking_id"] == str(run.booking_id)

    # shown on the material and on the booking's reservation
    on_medium = (await materials.client.get(f"/v1/materials/{medium}", headers=tokens.developer())).json()
    assert [(s["supplier_change_id"], s["outstanding_facilities"]) for s in on_medium["supplier_changes"]] == [
        (change_id, 2)
    ]
    reservation = (await materials.client.get(f"/v1/reservations/{run.booking_id}", headers=tokens.facility(a))).json()
    assert [(s["supplier_change_id"], s["lot_ids"], s["outcome"]) for s in reservation["supplier_changes"]] == [
        (change_id, [lots["a_medium"]], None)
    ]
    mine = await materials.client.get(
        f"/v1/supplier-changes?facility_id={a}&outstanding=true", headers=tokens.facility(a)
    )
    assert [s["supplier_change_id"] for s in mine.json()] == [change_id]

    # B accepts; A quarantines its affected lots
    answer = f"/v1/supplier-changes/{change_id}/facilities"
    accepted = await materials.client.post(
        f"{answer}/{b}/answer", json={"outcome": "accepted", "assessment": "Comparability data reviewed"},
        headers=tokens.facility(b),
    )  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    assert [f["outcome"] for f in accepted.json()["facilities"]] == ["accepted"]  # B sees its own answer only
    quarantined = await materials.client.post(
        f"{answer}/{a}/answer", json={"outcome": "quarantine_lots", "assessment": "Awaiting our own qualification"},
        headers=tokens.facility(a),
    )  # fmt: skip
    assert quarantined.status_code == 200, quarantined.text
    assert quarantined.json()["outstanding_facilities"] == 0
    held = (await materials.client.get(f"/v1/lots/{lots['a_medium']}", headers=tokens.facility(a))).json()
    assert held["quarantined_by_change_id"] == change_id and held["quarantined_at"]
    assert (Decimal(held["available"]), Decimal(held["reserved"]), held["version"]) == (0, 100, 2)  # still held
    assert {e["subject"] for e in await materials.outbox_events(QUARANTINED)} == {lots["a_medium"], lots["a_buffer"]}
    [on_held] = [e["data"] for e in await materials.outbox_events(QUARANTINED) if e["subject"] == lots["a_medium"]]
    assert [h["booking_id"] for h in on_held["holds"]] == [str(run.booking_id)]
    answered = {e["data"]["facility_id"]: e["data"] for e in await materials.outbox_events(ANSWERED)}
    assert sorted(answered[str(a)]["quarantined_lot_ids"]) == sorted([lots["a_medium"], lots["a_buffer"]])
    assert answered[str(b)]["quarantined_lot_ids"] == []

    # quarantined lots are not reserved, nor counted as stock; B's lot still is
    second = booking(a, [(medium, "50", "mL")])
    await publish(scheduling, BookingConfirmed(booking_id=second.booking_id, booking=second))
    await outcome(materials, "gmphub.materials.reservation.failed.v1", second.booking_id)
    stock = (await materials.client.get(f"/v1/materials/{medium}/stock", headers=tokens.developer())).json()
    assert [s["facility_id"] for s in stock] == [str(b)]
    reservation = (await materials.client.get(f"/v1/reservations/{run.booking_id}", headers=tokens.facility(a))).json()
    assert reservation["supplier_changes"][0]["outcome"] == "quarantine_lots"

    # history; a developer sees the change but no facility's answer or booking
    history = (await materials.client.get(f"/v1/supplier-changes/{change_id}/history", headers=tokens.admin())).json()
    assert [e["type"] for e in history] == [RECORDED, ANSWERED, ANSWERED]
    lot_history = (
        await materials.client.get(f"/v1/lots/{lots['a_medium']}/history", headers=tokens.facility(a))
    ).json()
    assert lot_history[-1]["type"] == QUARANTINED
    seen = (await materials.client.get(f"/v1/supplier-changes/{change_id}", headers=tokens.developer())).json()
    assert (seen["facilities"], seen["bookings"], seen["outstanding_facilities"]) == ([], [], 0)
    regulator = (await materials.client.get(f"/v1/supplier-changes/{change_id}", headers=tokens.regulator())).json()
    assert len(regulator["facilities"]) == 2

    async def published():
        records = await read_topic(settings.kafka_servers, "gmphub.materials.v1")
        types = {json.loads(r.value)["type"] for r in records if r.key.decode() == change_id}
        assert types == {RECORDED, ANSWERED}
        return True

    await eventually(published)
    await scheduling_caught_up(materials, scheduling)


async def test_bad_notifications_and_answers_are_refused_and_change_nothing(materials, tokens):
    cellgenix, medium, _, other, (a, b, c), lots = await stocked(materials, tokens)
    post = materials.client.post

    async def refused(path: str, body: dict, headers: dict, status: int, detail: str = "") -> None:
        response = await post(path, json=body, headers=headers)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(PROBLEM) and detail in response.json().get("detail", "")

    await refused("/v1/supplier-changes", notification(cellgenix, medium), tokens.facility(a), 403)
    await refused("/v1/supplier-changes", notification(cellgenix, medium, other), tokens.admin(), 422,
                  f"{other} are not supplied by {cellgenix}")  # fmt: skip
    await refused("/v1/supplier-changes", notification(cellgenix, uuid.uuid4()), tokens.admin(), 422, "No material")
    await refused("/v1/supplier-changes", notification(str(uuid.uuid4()), medium), tokens.admin(), 404)
    await refused("/v1/supplier-changes", notification(cellgenix, medium, risk_class="huge"), tokens.admin(), 422)
    assert await materials.sql("SELECT id FROM supplier_change") == []
    assert await materials.outbox_events(RECORDED) == []

    created = await post("/v1/supplier-changes", json=notification(cellgenix, medium), headers=tokens.admin())
    change_id = created.json()["supplier_change_id"]
    answer = f"/v1/supplier-changes/{change_id}/facilities"
    body = {"outcome": "quarantine_lots", "assessment": "Not qualified yet"}
    await refused(f"{answer}/{b}/answer", body, tokens.facility(a), 403, f"facility {b}")  # someone else's
    await refused(f"{answer}/{a}/answer", body, tokens.admin(), 403, "for itself")
    await refused(f"{answer}/{c}/answer", body, tokens.facility(c), 404, "held no lots")
    await refused(f"/v1/supplier-changes/{uuid.uuid4()}/facilities/{a}/answer", body, tokens.facility(a), 404)
    await refused(f"{answer}/{a}/answer", {"outcome": "ignore", "assessment": "x" * 5}, tokens.facility(a), 422)
    assert await materials.outbox_events(ANSWERED) == [] and await materials.outbox_events(QUARANTINED) == []

    first = await post(
        f"{answer}/{a}/answer", json={"outcome": "accepted", "assessment": "Fine"}, headers=tokens.facility(a)
    )
    assert first.status_code == 200, first.text
    events_before = len(await materials.outbox_events())
    await refused(f"{answer}/{a}/answer", body, tokens.facility(a), 409, "already answered")
    assert len(await materials.outbox_events()) == events_before
    [(outcome_, quarantined_at)] = await materials.sql(
        "SELECT f.outcome, l.quarantined_at FROM supplier_change_facility f, lot l"
        " WHERE f.facility_id = :a AND l.id = :lot", a=a, lot=uuid.UUID(lots["a_medium"]),
    )  # fmt: skip
    assert (outcome_, quarantined_at) == ("accepted", None)
    assert date.fromisoformat(created.json()["effective_on"]) == date(2027, 3, 1)


async def test_racing_answers_of_one_facility_make_one_answer(materials, tokens):
    cellgenix, medium, buffer, _, (a, b, c), lots = await stocked(materials, tokens)
    created = await materials.client.post(
        "/v1/supplier-changes", json=notification(cellgenix, medium, buffer), headers=tokens.admin()
    )
    path = f"/v1/supplier-changes/{created.json()['supplier_change_id']}/facilities/{a}/answer"
    body = {"outcome": "quarantine_lots", "assessment": "Not qualified yet"}

    answers = await asyncio.gather(
        *(materials.client.post(path, json=body, headers=tokens.facility(a)) for _ in range(4))
    )

    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
    assert len(await materials.outbox_events(ANSWERED)) == 1
    quarantined = await materials.outbox_events(QUARANTINED)
    assert sorted(e["subject"] for e in quarantined) == sorted([lots["a_medium"], lots["a_buffer"]])  # once each

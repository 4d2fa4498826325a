"""A regulator reads a facility's bookings and their histories for inspection (the dossier's
reads), but acts on none of them; others still see only their own."""

from tests.integration.scheduling.helpers import certified_site, hold, publish


async def test_a_regulator_reads_any_facility_s_bookings_and_histories_but_cannot_act(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    booking = (await hold(scheduling, tokens, [slots[0]])).json()
    booking_id = booking["booking_id"]
    inspector = tokens.regulator("NL-IGJ")  # any authority: the certificate's is DE-PEI

    listed = await scheduling.client.get(f"/v1/facilities/{site.facility_id}/bookings", headers=inspector)
    assert listed.status_code == 200 and [b["booking_id"] for b in listed.json()] == [booking_id]
    read = await scheduling.client.get(f"/v1/bookings/{booking_id}", headers=inspector)
    assert read.status_code == 200 and read.json()["status"] == "held"
    history = await scheduling.client.get(f"/v1/bookings/{booking_id}/history", headers=inspector)
    assert [e["type"] for e in history.json()] == ["gmphub.scheduling.booking.held.v1"]

    confirm = await scheduling.client.post(f"/v1/bookings/{booking_id}/confirm", headers=inspector)
    assert confirm.status_code == 404  # reading is not acting: the booking is not theirs to confirm
    unchanged = await scheduling.client.get(f"/v1/bookings/{booking_id}", headers=tokens.admin())
    assert unchanged.json()["status"] == "held"

    for stranger in (tokens.developer("ORG-2"), tokens.facility("00000000-0000-0000-0000-000000000001")):
        refused = await scheduling.client.get(f"/v1/facilities/{site.facility_id}/bookings", headers=stranger)
        assert refused.status_code == 403, refused.text
        assert (await scheduling.client.get(f"/v1/bookings/{booking_id}/history", headers=stranger)).status_code == 404

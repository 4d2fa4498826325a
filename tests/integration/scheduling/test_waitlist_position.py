"""A waitlist entry's position in line: counted among the waiting entries a slot matching it could
also go to, in the order offers are made (oldest first), so it moves up as those ahead leave or
are offered a slot."""

from tests.integration.scheduling.helpers import certified_site, publish, start


async def test_positions_follow_the_order_offers_are_made_in(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling, country="PT")
    criteria = {"product": "CAR-T CD19", "run_kind": "development", "country": "PT", "atmp_type": "gene_therapy"}

    async def join(org: str, **more) -> str:
        response = await scheduling.client.post("/v1/waitlist", json=criteria | more, headers=tokens.developer(org))
        assert response.status_code == 201 and response.json()["status"] == "waiting", response.text
        return response.json()["waitlist_entry_id"]

    async def positions() -> dict[str, int | None]:
        response = await scheduling.client.get("/v1/waitlist", headers=tokens.admin())
        assert response.status_code == 200, response.text
        return {e["waitlist_entry_id"]: e["position"] for e in response.json()}

    first, second, third = [await join(org) for org in ("ORG-1", "ORG-2", "ORG-3")]
    elsewhere = await join("ORG-4", country="ES")  # no slot of it is theirs: first in a line of its own
    # Entries with periods no one slot can fit both of: neither is behind the other, both are behind
    # the three that name no period.
    later = await join("ORG-4", earliest_start=start(300).isoformat(), latest_end=start(301).isoformat())
    sooner = await join("ORG-5", latest_end=start(100).isoformat())
    assert await positions() == {first: 1, second: 2, third: 3, elsewhere: 1, later: 4, sooner: 4}

    mine = await scheduling.client.get("/v1/waitlist", headers=tokens.developer("ORG-3"))
    assert [(e["waitlist_entry_id"], e["position"]) for e in mine.json()] == [(third, 3)]

    left = await scheduling.client.post(f"/v1/waitlist/{first}/leave", headers=tokens.developer("ORG-1"))
    assert left.status_code == 200 and left.json()["position"] is None
    assert await positions() == {first: None, second: 1, third: 2, elsewhere: 1, later: 3, sooner: 3}

    # The next matching slot goes to the entry in position 1, as its position said.
    [slot] = await publish(scheduling, tokens, site, count=1)
    assert slot["status"] == "held"
    offered = (await scheduling.client.get("/v1/waitlist", headers=tokens.developer("ORG-2"))).json()
    assert [(e["waitlist_entry_id"], e["status"], e["position"]) for e in offered] == [(second, "offered", None)]
    assert await positions() == {first: None, second: None, third: 1, elsewhere: 1, later: 2, sooner: 2}

    # Joining answers the new entry's position too: behind every waiting entry in PT.
    last = await scheduling.client.post("/v1/waitlist", json=criteria, headers=tokens.developer("ORG-6"))
    assert last.status_code == 201 and last.json()["position"] == 4

"""Inputs the security test found accepted that should not be: each refused with 422 and
nothing kept, and the lists that answered whole tables paged and filtered as documented."""

from tests.integration.materials.helpers import material, supplier

PROBLEM = "application/problem+json"


async def test_a_waitlist_window_ending_before_it_starts_is_refused(scheduling, tokens):
    criteria = {"product": "CAR-T", "run_kind": "development", "country": "DE"}
    backwards = criteria | {"earliest_start": "2027-06-01T00:00:00Z", "latest_end": "2027-05-01T00:00:00Z"}
    refused = await scheduling.client.post("/v1/waitlist", json=backwards, headers=tokens.developer())
    assert (refused.status_code, refused.headers["content-type"]) == (422, PROBLEM)
    assert "earliest_start must be before latest_end" in refused.json()["detail"]
    assert (await scheduling.client.get("/v1/waitlist", headers=tokens.developer())).json() == []
    forwards = criteria | {"earliest_start": "2027-05-01T00:00:00Z", "latest_end": "2027-06-01T00:00:00Z"}
    assert (await scheduling.client.post("/v1/waitlist", json=forwards, headers=tokens.developer())).status_code == 201


async def test_a_booking_state_outside_the_vocabulary_is_refused(scheduling, tokens):
    refused = await scheduling.client.get("/v1/bookings", params={"status": "evil'--"}, headers=tokens.developer())
    assert (refused.status_code, refused.headers["content-type"]) == (422, PROBLEM)
    assert "held" in refused.json()["detail"]  # says which states there are
    held = await scheduling.client.get("/v1/bookings", params={"status": "held"}, headers=tokens.developer())
    assert (held.status_code, held.json()) == (200, [])


async def test_a_nul_in_a_webhook_url_is_refused_not_stripped(approvals, tokens):
    refused = await approvals.client.post(
        "/v1/subscriptions", json={"url": "https://pei.example.eu/ho\x00oks"}, headers=tokens.regulator()
    )
    assert (refused.status_code, refused.headers["content-type"]) == (422, PROBLEM)
    assert "control character" in refused.json()["detail"]
    assert (await approvals.client.get("/v1/subscriptions", headers=tokens.regulator())).json() == []


async def test_shortages_are_paged_and_searched(materials, tokens):
    albumin = await material(materials, tokens, name="Human serum albumin 25%")
    medium = await material(materials, tokens, name="TexMACS GMP Medium")
    for reason, material_id in (("Plant recall", albumin), ("Strike at the port", medium), ("Demand", medium)):
        body = {"material_id": material_id, "severity": "high", "regions": ["DE"], "reason": reason}
        assert (await materials.client.post("/v1/shortages", json=body, headers=tokens.regulator())).status_code == 201

    assert (
        await materials.client.get("/v1/shortages", params={"limit": 10000}, headers=tokens.admin())
    ).status_code == 422
    page = await materials.client.get("/v1/shortages", params={"limit": 2}, headers=tokens.admin())
    rest = await materials.client.get("/v1/shortages", params={"limit": 2, "offset": 2}, headers=tokens.admin())
    assert len(page.json()) == 2 and len(rest.json()) == 1
    assert {s["shortage_id"] for s in page.json()}.isdisjoint(s["shortage_id"] for s in rest.json())

    async def found(q: str) -> list[str]:
        answer = await materials.client.get("/v1/shortages", params={"q": q}, headers=tokens.admin())
        return sorted(s["reason"] for s in answer.json())

    assert await found("albumin") == ["Plant recall"]  # the material's name
    assert await found("STRIKE") == ["Strike at the port"]  # the reason, any case
    assert await found("%") == ["Plant recall"]  # a character here, not a wildcard: "albumin 25%"


async def test_suppliers_are_searched_by_name(materials, tokens):
    await supplier(materials, tokens, name="Miltenyi Biotec")
    await supplier(materials, tokens, name="CellGenix")
    answer = await materials.client.get("/v1/suppliers", params={"q": "miltenyi"}, headers=tokens.admin())
    assert [s["name"] for s in answer.json()] == ["Miltenyi Biotec"]
    everyone = await materials.client.get("/v1/suppliers", params={"q": "_"}, headers=tokens.admin())
    assert everyone.json() == []  # not a wildcard

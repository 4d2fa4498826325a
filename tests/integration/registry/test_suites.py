"""Suites: added, changed and retired by the facility's own users (or admin), never deleted."""

from tests.integration.registry.helpers import SUITE, add_suite, counts, create_facility, version_of


async def test_a_facility_user_adds_changes_and_retires_its_suite(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    suite = await add_suite(registry, tokens, fid)
    assert suite["processes"] == ["car_t", "clinimacs_prodigy"] and suite["retired"] is False
    url = f"/v1/facilities/{fid}/suites/{suite['suite_id']}"

    changed = await registry.client.patch(url, json={"cleanroom_grade": "A", "processes": ["aav"]},
                                          headers=tokens.facility(fid))  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["cleanroom_grade"] == "A" and changed.json()["processes"] == ["aav"]
    assert changed.json()["atmp_types"] == SUITE["atmp_types"]
    assert changed.headers["ETag"] == '"3"'

    retired = await registry.client.post(
        f"{url}/retire", json={"reason": "Converted to QC lab"}, headers=tokens.admin()
    )
    assert retired.status_code == 200 and retired.json()["retired"] is True
    assert (await registry.client.patch(url, json={"name": "X"}, headers=tokens.admin())).status_code == 409

    read = (await registry.client.get(f"/v1/facilities/{fid}", headers=tokens.developer())).json()
    assert read["version"] == 4 and [s["retired"] for s in read["suites"]] == [True]
    events = await registry.outbox_events()
    assert [(e["type"].split(".")[2:4], e["data"]["version"]) for e in events] == [
        (["facility", "registered"], 1),
        (["suite", "added"], 2),
        (["suite", "updated"], 3),
        (["suite", "retired"], 4),
    ]
    assert events[3]["data"]["reason"] == "Converted to QC lab"
    assert {e["subject"] for e in events} == {fid}


async def test_suite_terms_are_checked_and_nothing_changes(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    before = await counts(registry)
    for bad, term in (({"cleanroom_grade": "E"}, "E"), ({"processes": ["alchemy"]}, "alchemy"),
                      ({"atmp_types": ["xeno"]}, "xeno"), ({"qc_tests": ["vibes"]}, "vibes")):  # fmt: skip
        response = await registry.client.post(
            f"/v1/facilities/{fid}/suites", json=SUITE | bad, headers=tokens.facility(fid)
        )
        assert response.status_code == 422, response.text
        assert response.json()["term"] == term and response.json()["allowed"]
    assert await counts(registry) == before


async def test_only_the_facility_own_users_touch_its_suites(registry, tokens):
    mine = (await create_facility(registry, tokens))["facility_id"]
    other = (await create_facility(registry, tokens, legal_name="Other GMP"))["facility_id"]
    suite = await add_suite(registry, tokens, other)
    before = await counts(registry)
    url = f"/v1/facilities/{other}/suites"
    for headers in (tokens.facility(mine), tokens.developer(), tokens.regulator()):
        assert (await registry.client.post(url, json=SUITE | {"name": "X"}, headers=headers)).status_code == 403
        patched = await registry.client.patch(f"{url}/{suite['suite_id']}", json={"name": "X"}, headers=headers)
        assert patched.status_code == 403
        retired = await registry.client.post(
            f"{url}/{suite['suite_id']}/retire", json={"reason": "x" * 5}, headers=headers
        )
        assert retired.status_code == 403
    # a suite is reached only through its own facility
    crossed = await registry.client.patch(f"/v1/facilities/{mine}/suites/{suite['suite_id']}", json={"name": "X"},
                                          headers=tokens.facility(mine))  # fmt: skip
    assert crossed.status_code == 404
    assert await counts(registry) == before


async def test_live_suite_names_are_unique_and_if_match_is_honoured(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    suite = await add_suite(registry, tokens, fid)
    duplicate = await registry.client.post(f"/v1/facilities/{fid}/suites", json=SUITE, headers=tokens.facility(fid))
    assert duplicate.status_code == 409
    stale = await registry.client.patch(f"/v1/facilities/{fid}/suites/{suite['suite_id']}", json={"qp_release": False},
                                        headers=tokens.facility(fid) | {"If-Match": '"1"'})  # fmt: skip
    assert stale.status_code == 412
    assert await version_of(registry, fid) == 2

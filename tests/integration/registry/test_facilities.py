"""Facility onboarding, profile edits with If-Match, deactivation, history and vocabularies, per role."""

import asyncio

from tests.integration.registry.helpers import FACILITY, counts, create_facility, version_of


async def test_vocabularies_are_published(registry, tokens):
    response = await registry.client.get("/v1/vocabularies", headers=tokens.developer())
    assert response.status_code == 200
    body = response.json()
    assert [t["term"] for t in body["cleanroom_grades"]] == ["A", "B", "C", "D", "isolator"]
    assert {"car_t", "aav", "lentiviral_vector", "msc_expansion"} <= {t["term"] for t in body["processes"]}
    assert {t["term"] for t in body["certificate_statuses"]} == {"valid", "suspended", "revoked", "expired"}
    assert (await registry.client.get("/v1/vocabularies")).status_code == 401


async def test_admin_onboards_and_anyone_reads_with_an_etag(registry, tokens):
    facility = await create_facility(registry, tokens)
    [event] = await registry.outbox_events("gmphub.registry.facility.registered.v1")
    assert event["actor"] == "admin:hub-operator" and event["data"]["version"] == 1
    for headers in (tokens.developer(), tokens.regulator(), tokens.facility("other")):
        response = await registry.client.get(f"/v1/facilities/{facility['facility_id']}", headers=headers)
        assert response.status_code == 200
        assert response.headers["ETag"] == '"1"'
        assert response.json()["suites"] == [] and response.json()["certificates"] == []


async def test_only_admin_onboards_and_bad_terms_change_nothing(registry, tokens):
    refused = await registry.client.post("/v1/facilities", json=FACILITY, headers=tokens.developer())
    assert refused.status_code == 403
    bad_kind = await registry.client.post(
        "/v1/facilities", json=FACILITY | {"kind": "spaceport"}, headers=tokens.admin()
    )
    assert bad_kind.status_code == 422
    assert bad_kind.headers["content-type"] == "application/problem+json"
    assert bad_kind.json()["term"] == "spaceport" and "hospital" in bad_kind.json()["allowed"]
    assert "'spaceport'" in bad_kind.json()["detail"]
    assert await counts(registry) == (0, 0, 0, 0)


async def test_profile_edit_needs_a_current_if_match(registry, tokens):
    facility = await create_facility(registry, tokens)
    fid = facility["facility_id"]
    url, own = f"/v1/facilities/{fid}", tokens.facility(fid)

    missing = await registry.client.patch(url, json={"city": "Potsdam"}, headers=own)
    assert missing.status_code == 428
    edited = await registry.client.patch(url, json={"city": "Potsdam"}, headers=own | {"If-Match": '"1"'})
    assert edited.status_code == 200, edited.text
    assert edited.json()["city"] == "Potsdam" and edited.json()["version"] == 2
    assert edited.headers["ETag"] == '"2"'

    stale = await registry.client.patch(url, json={"city": "Bonn"}, headers=own | {"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2
    [updated] = await registry.outbox_events("gmphub.registry.facility.updated.v1")
    assert updated["data"]["facility"]["city"] == "Potsdam" and updated["data"]["version"] == 2
    assert updated["actor"] == "facility:facility-user-1"


async def test_concurrent_edits_with_the_same_etag_one_wins(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    url, headers = f"/v1/facilities/{fid}", tokens.admin() | {"If-Match": '"1"'}
    answers = await asyncio.gather(
        *(registry.client.patch(url, json={"city": f"City {i}"}, headers=headers) for i in range(4))
    )
    assert sorted(a.status_code for a in answers) == [200, 412, 412, 412]
    assert await version_of(registry, fid) == 2
    assert len(await registry.outbox_events("gmphub.registry.facility.updated.v1")) == 1


async def test_facility_users_edit_only_their_facility_and_not_its_authorisation(registry, tokens):
    mine = (await create_facility(registry, tokens))["facility_id"]
    other = (await create_facility(registry, tokens, legal_name="Other GMP"))["facility_id"]
    before = await counts(registry)
    headers = tokens.facility(mine) | {"If-Match": '"1"'}
    assert (
        await registry.client.patch(f"/v1/facilities/{other}", json={"city": "X"}, headers=headers)
    ).status_code == 403
    for role in (tokens.developer(), tokens.regulator()):
        answer = await registry.client.patch(
            f"/v1/facilities/{mine}", json={"city": "X"}, headers=role | {"If-Match": '"1"'}
        )
        assert answer.status_code == 403
    locked = await registry.client.patch(f"/v1/facilities/{mine}", json={"authorisation_number": "X"}, headers=headers)
    assert locked.status_code == 422
    bad_country = await registry.client.patch(f"/v1/facilities/{mine}", json={"country": "XX"}, headers=headers)
    assert bad_country.status_code == 422
    nulled = await registry.client.patch(f"/v1/facilities/{mine}", json={"city": None}, headers=headers)
    assert nulled.status_code == 422
    assert await counts(registry) == before
    assert await version_of(registry, mine) == 1


async def test_admin_deactivates_with_a_reason_and_the_history_tells_it(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    url = f"/v1/facilities/{fid}/deactivate"
    assert (await registry.client.post(url, json={"reason": "closed"}, headers=tokens.facility(fid))).status_code == 403
    assert (await registry.client.post(url, json={}, headers=tokens.admin())).status_code == 422
    done = await registry.client.post(url, json={"reason": "Site closed in 2026"}, headers=tokens.admin())
    assert done.status_code == 200 and done.json()["active"] is False

    again = await registry.client.post(url, json={"reason": "twice"}, headers=tokens.admin())
    assert again.status_code == 409
    edit = await registry.client.patch(
        f"/v1/facilities/{fid}", json={"city": "X"}, headers=tokens.admin() | {"If-Match": '"2"'}
    )
    assert edit.status_code == 409

    history = await registry.client.get(f"/v1/facilities/{fid}/history", headers=tokens.developer())
    assert history.status_code == 200
    assert [e["type"] for e in history.json()] == [
        "gmphub.registry.facility.registered.v1",
        "gmphub.registry.facility.deactivated.v1",
    ]
    deactivated = history.json()[1]
    assert deactivated["actor"] == "admin:hub-operator" and deactivated["data"]["reason"] == "Site closed in 2026"
    read = await registry.client.get(f"/v1/facilities/{fid}", headers=tokens.developer())
    assert read.json()["deactivation_reason"] == "Site closed in 2026"


async def test_admin_reactivates_a_deactivated_facility_with_a_reason(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    url = f"/v1/facilities/{fid}/reactivate"
    assert (await registry.client.post(url, json={"reason": "reopened"}, headers=tokens.admin())).status_code == 409
    await registry.client.post(
        f"/v1/facilities/{fid}/deactivate", json={"reason": "Closed by mistake"}, headers=tokens.admin()
    )
    assert (
        await registry.client.post(url, json={"reason": "reopened"}, headers=tokens.facility(fid))
    ).status_code == 403
    assert (await registry.client.post(url, json={}, headers=tokens.admin())).status_code == 422
    stale = await registry.client.post(url, json={"reason": "reopened"}, headers=tokens.admin() | {"If-Match": '"1"'})
    assert stale.status_code == 412
    done = await registry.client.post(url, json={"reason": "Deactivated by mistake"}, headers=tokens.admin())
    assert done.status_code == 200 and done.json()["active"] is True and done.headers["ETag"] == '"3"'
    read = (await registry.client.get(f"/v1/facilities/{fid}", headers=tokens.admin())).json()
    assert read["deactivation_reason"] is None
    edit = await registry.client.patch(
        f"/v1/facilities/{fid}", json={"city": "Potsdam"}, headers=tokens.admin() | {"If-Match": '"3"'}
    )
    assert edit.status_code == 200

    history = (await registry.client.get(f"/v1/facilities/{fid}/history", headers=tokens.developer())).json()
    reactivated = history[2]
    assert reactivated["type"] == "gmphub.registry.facility.reactivated.v1"
    assert reactivated["actor"] == "admin:hub-operator" and reactivated["data"]["reason"] == "Deactivated by mistake"


async def test_unknown_facility_is_404(registry, tokens):
    missing = "00000000-0000-0000-0000-000000000001"
    assert (await registry.client.get(f"/v1/facilities/{missing}", headers=tokens.admin())).status_code == 404
    assert (await registry.client.get(f"/v1/facilities/{missing}/history", headers=tokens.admin())).status_code == 404
    patched = await registry.client.patch(
        f"/v1/facilities/{missing}", json={"city": "X"}, headers=tokens.admin() | {"If-Match": '"1"'}
    )
    assert patched.status_code == 404

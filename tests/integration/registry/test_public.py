"""The public directory, read without a token: only active facilities holding a certificate valid
today, by capability; only the fields the README names public (nothing about people, contacts,
reasons or non-compliance)."""

import json
from datetime import date, timedelta

from tests.integration.registry.helpers import FACILITY, add_suite, create_facility, issue_certificate

PUBLIC_FACILITY = {"facility_id", "legal_name", "kind", "country", "city", "suites", "certificates"}
PUBLIC_SUITE = {"suite_id", "name", "cleanroom_grade", "atmp_types", "processes", "qc_tests", "qp_release"}
PUBLIC_CERTIFICATE = {
    "certificate_id", "number", "authority", "status", "issued_on", "expires_on", "atmp_types", "operations", "history",
}  # fmt: skip


async def names(registry, **params) -> list[str]:
    response = await registry.client.get("/v1/public/facilities", params=params)  # no Authorization header
    assert response.status_code == 200, response.text
    return [f["legal_name"] for f in response.json()["items"]]


async def test_the_directory_lists_only_active_certified_facilities_by_capability(registry, tokens):
    berlin = (await create_facility(registry, tokens, legal_name="Berlin CAR-T Unit"))["facility_id"]
    leiden = (await create_facility(registry, tokens, legal_name="Leiden Vector Facility", country="NL",
                                    city="Leiden"))["facility_id"]  # fmt: skip
    uncertified = (await create_facility(registry, tokens, legal_name="Uncertified Munich Lab", city="Munich"))[
        "facility_id"
    ]
    suspended = (await create_facility(registry, tokens, legal_name="Suspended Hamburg Site", city="Hamburg"))[
        "facility_id"
    ]
    expired = (await create_facility(registry, tokens, legal_name="Expired Cologne Site", city="Cologne"))[
        "facility_id"
    ]
    closed = (await create_facility(registry, tokens, legal_name="Closed Berlin Site"))["facility_id"]
    for fid in (berlin, uncertified, suspended, expired, closed):
        await add_suite(registry, tokens, fid, cleanroom_grade="B", processes=["car_t"])
    await add_suite(registry, tokens, leiden, cleanroom_grade="A", atmp_types=["gene_therapy"], processes=["aav"])
    await add_suite(registry, tokens, leiden, name="Retired line", cleanroom_grade="C", processes=["car_t"])
    await issue_certificate(registry, tokens, berlin, number="DE-1")
    await issue_certificate(registry, tokens, leiden, authority="NL-IGJ", number="NL-1")
    hamburg = await issue_certificate(registry, tokens, suspended, number="DE-2")
    await registry.client.post(f"/v1/certificates/{hamburg['certificate_id']}/suspend",
                               json={"reason": "Sterility failures"}, headers=tokens.regulator())  # fmt: skip
    await issue_certificate(registry, tokens, expired, number="DE-3")
    # still "valid" (the expiry job has not run yet) but past its expiry day: not in force
    await registry.sql("UPDATE certificate SET issued_on = :i, expires_on = :e WHERE number = 'DE-3'",
                       i=date.today() - timedelta(days=400), e=date.today() - timedelta(days=1))  # fmt: skip
    await issue_certificate(registry, tokens, closed, number="DE-4")
    await registry.client.post(f"/v1/facilities/{closed}/deactivate", json={"reason": "Closed"}, headers=tokens.admin())
    leiden_suites = (await registry.client.get(f"/v1/facilities/{leiden}", headers=tokens.admin())).json()["suites"]
    retired = next(s for s in leiden_suites if s["name"] == "Retired line")
    await registry.client.post(f"/v1/facilities/{leiden}/suites/{retired['suite_id']}/retire",
                               json={"reason": "Decommissioned"}, headers=tokens.facility(leiden))  # fmt: skip

    assert await names(registry) == ["Berlin CAR-T Unit", "Leiden Vector Facility"]
    assert await names(registry, country="DE") == ["Berlin CAR-T Unit"]
    assert await names(registry, cleanroom_grade="A") == ["Leiden Vector Facility"]
    assert await names(registry, process="car_t") == ["Berlin CAR-T Unit"]  # Leiden's car_t line is retired
    assert await names(registry, atmp_type="gene_therapy", process="aav", cleanroom_grade="A") == [
        "Leiden Vector Facility"
    ]
    assert await names(registry, country="NL", cleanroom_grade="B") == []

    page = (await registry.client.get("/v1/public/facilities", params={"page_size": 1, "page": 2})).json()
    assert (page["total"], page["page"], [f["legal_name"] for f in page["items"]]) == (2, 2, ["Leiden Vector Facility"])
    leiden_listed = page["items"][0]
    assert [s["cleanroom_grade"] for s in leiden_listed["suites"]] == ["A"]
    assert [c["number"] for c in leiden_listed["certificates"]] == ["NL-1"]

    for absent in (uncertified, suspended, expired, closed):
        response = await registry.client.get(f"/v1/public/facilities/{absent}")
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == f"No facility {absent} in the public directory."


async def test_a_facility_page_shows_capabilities_and_certificate_history_and_nothing_private(registry, tokens):
    fid = (await create_facility(registry, tokens, eudragmdp_ref="EUDRA-12345"))["facility_id"]
    await add_suite(registry, tokens, fid, description="Staffed by Dr. Example, ext. 4711")
    old = await issue_certificate(registry, tokens, fid, number="DE-OLD")
    current = await issue_certificate(registry, tokens, fid, number="DE-NEW")
    pei = tokens.regulator()
    await registry.client.post(f"/v1/certificates/{current['certificate_id']}/suspend",
                               json={"reason": "Sterility failures"}, headers=pei)  # fmt: skip
    await registry.client.post(f"/v1/certificates/{current['certificate_id']}/reinstate",
                               json={"reason": "CAPA verified"}, headers=pei)  # fmt: skip
    await registry.client.post(f"/v1/certificates/{old['certificate_id']}/revoke",
                               json={"reason": "Superseded after inspection"}, headers=pei)  # fmt: skip
    await registry.client.post(f"/v1/facilities/{fid}/noncompliance",
                               json={"summary": "Critical deviation in aseptic process"}, headers=pei)  # fmt: skip

    response = await registry.client.get(f"/v1/public/facilities/{fid}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PUBLIC_FACILITY
    assert (body["legal_name"], body["country"], body["city"]) == (FACILITY["legal_name"], "DE", "Berlin")
    [suite] = body["suites"]
    assert set(suite) == PUBLIC_SUITE and suite["cleanroom_grade"] == "B" and "car_t" in suite["processes"]
    certificates = {c["number"]: c for c in body["certificates"]}
    assert all(set(c) == PUBLIC_CERTIFICATE for c in certificates.values())
    assert certificates["DE-NEW"]["status"] == "valid" and certificates["DE-OLD"]["status"] == "revoked"
    assert [h["status"] for h in certificates["DE-NEW"]["history"]] == ["valid", "suspended", "valid"]
    assert [h["status"] for h in certificates["DE-OLD"]["history"]] == ["valid", "revoked"]

    text = json.dumps(body)
    for private in (FACILITY["contact_email"], FACILITY["address"], FACILITY["authorisation_number"], "EUDRA-12345",
                    "Dr. Example", "Sterility failures", "CAPA verified", "Superseded", "Critical deviation",
                    "inspector", "regulator:", "admin"):  # fmt: skip
        assert private not in text, private

    listed = (await registry.client.get("/v1/public/facilities")).json()["items"]
    assert [c["number"] for c in listed[0]["certificates"]] == ["DE-NEW"]  # the list: those valid today
    assert FACILITY["contact_email"] not in json.dumps(listed)


async def test_bad_filters_are_problems_and_no_token_is_needed_or_used(registry, tokens):
    response = await registry.client.get("/v1/public/facilities", params={"cleanroom_grade": "Z"})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert "cleanroom_grade" in response.json()["detail"]
    assert (await registry.client.get("/v1/public/facilities", params={"page_size": 500})).status_code == 422
    assert (await registry.client.get("/v1/public/facilities/not-a-uuid")).status_code == 422
    # a forged token changes nothing: the directory reads no token at all
    forged = await registry.client.get("/v1/public/facilities", headers={"Authorization": "Bearer abc.def.ghi"})
    assert forged.status_code == 200 and forged.json()["items"] == []
    # the signed-in reads still need one
    assert (await registry.client.get("/v1/facilities")).status_code == 401


async def test_the_vocabularies_are_public_too(registry, tokens):
    response = await registry.client.get("/v1/public/vocabularies")
    assert response.status_code == 200
    grades = [t["term"] for t in response.json()["cleanroom_grades"]]
    assert grades == [
        t["term"]
        for t in (await registry.client.get("/v1/vocabularies", headers=tokens.developer())).json()["cleanroom_grades"]
    ]
    assert "B" in grades and "isolator" in grades

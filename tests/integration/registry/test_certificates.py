"""Certificates: issued, suspended, reinstated and revoked by their authority; non-compliance."""

import asyncio
from datetime import date, timedelta

from tests.integration.registry.helpers import certificate, counts, create_facility, issue_certificate, version_of

MISSING = "00000000-0000-0000-0000-000000000001"


async def test_a_regulator_runs_the_lifecycle_and_each_step_is_an_event(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid)
    assert cert["status"] == "valid" and cert["authority"] == "DE-PEI"
    url, pei = f"/v1/certificates/{cert['certificate_id']}", tokens.regulator("DE-PEI")

    suspended = await registry.client.post(f"{url}/suspend", json={"reason": "Sterility failures"}, headers=pei)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert suspended.json()["reason"] == "Sterility failures"
    assert (await registry.client.post(f"{url}/suspend", json={"reason": "again"}, headers=pei)).status_code == 409
    reinstated = await registry.client.post(f"{url}/reinstate", json={}, headers=pei)
    assert reinstated.status_code == 200 and reinstated.json()["status"] == "valid"
    revoked = await registry.client.post(f"{url}/revoke", json={"reason": "Repeated critical findings"}, headers=pei)
    assert revoked.json()["status"] == "revoked"
    assert (await registry.client.post(f"{url}/reinstate", json={}, headers=pei)).status_code == 409

    events = await registry.outbox_events()
    assert [(e["type"], e["data"]["version"]) for e in events[1:]] == [
        ("gmphub.registry.certificate.issued.v1", 2),
        ("gmphub.registry.certificate.suspended.v1", 3),
        ("gmphub.registry.certificate.reinstated.v1", 4),
        ("gmphub.registry.certificate.revoked.v1", 5),
    ]
    assert events[2]["data"]["certificate"]["status"] == "suspended"
    assert events[2]["data"]["certificate"]["reason"] == "Sterility failures"
    assert all(e["actor"] == "regulator:inspector-1" for e in events[1:])

    read = (await registry.client.get(f"/v1/facilities/{fid}", headers=tokens.developer())).json()
    assert [c["status"] for c in read["certificates"]] == ["revoked"] and read["version"] == 5
    history = (await registry.client.get(f"/v1/facilities/{fid}/history", headers=tokens.developer())).json()
    assert len(history) == 5


async def test_only_the_issuing_authority_or_admin_changes_a_certificate(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid)
    url = f"/v1/certificates/{cert['certificate_id']}"
    before = await counts(registry)
    for headers in (tokens.regulator("FR-ANSM"), tokens.facility(fid), tokens.developer()):
        for action, body in (("suspend", {"reason": "x" * 5}), ("revoke", {"reason": "x" * 5}), ("reinstate", {})):
            assert (await registry.client.post(f"{url}/{action}", json=body, headers=headers)).status_code == 403
    assert await counts(registry) == before
    by_admin = await registry.client.post(f"{url}/suspend", json={"reason": "On behalf of PEI"}, headers=tokens.admin())
    assert by_admin.status_code == 200 and by_admin.json()["status"] == "suspended"


async def test_who_may_issue(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    url = f"/v1/facilities/{fid}/certificates"
    for headers in (tokens.facility(fid), tokens.developer()):
        assert (await registry.client.post(url, json=certificate(), headers=headers)).status_code == 403
    other = await registry.client.post(url, json=certificate(authority="FR-ANSM"), headers=tokens.regulator("DE-PEI"))
    assert other.status_code == 403
    unnamed = await registry.client.post(url, json=certificate(), headers=tokens.admin())
    assert unnamed.status_code == 422
    assert await counts(registry) == (1, 0, 0, 1)
    named = await registry.client.post(url, json=certificate(authority="DE-LAGeSo"), headers=tokens.admin())
    assert named.status_code == 201 and named.json()["authority"] == "DE-LAGeSo"  # Berlin's, for a Berlin site


async def test_bad_certificates_change_nothing(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    await issue_certificate(registry, tokens, fid)
    before = await counts(registry)
    today = date.today()
    pei = tokens.regulator("DE-PEI")
    url = f"/v1/facilities/{fid}/certificates"
    cases = [
        (certificate("N2", expires_on=str(today - timedelta(days=60))), 422, "after the issue date"),
        (certificate("N3", operations=["brewing"]), 422, "'brewing'"),
        (certificate("N4", atmp_types=["xeno"]), 422, "'xeno'"),
        (certificate("N5", issued_on="2026-13-01"), 422, "issued_on"),
        (certificate(), 409, "already issued"),  # the same number twice
    ]
    for body, status, words in cases:
        response = await registry.client.post(url, json=body, headers=pei)
        assert response.status_code == status, response.text
        assert words in response.json()["detail"]
        assert response.headers["content-type"] == "application/problem+json"
    unknown = await registry.client.post(f"/v1/facilities/{MISSING}/certificates", json=certificate("N6"), headers=pei)
    assert unknown.status_code == 404
    assert await counts(registry) == before


async def test_no_certificate_for_a_deactivated_facility(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid)
    await registry.client.post(f"/v1/facilities/{fid}/deactivate", json={"reason": "Closed"}, headers=tokens.admin())
    before = await counts(registry)
    refused = await registry.client.post(f"/v1/facilities/{fid}/certificates", json=certificate("N2"),
                                         headers=tokens.regulator())  # fmt: skip
    assert refused.status_code == 409 and "deactivated" in refused.json()["detail"]
    assert await counts(registry) == before
    # its authority can still act on the certificate it holds
    revoked = await registry.client.post(f"/v1/certificates/{cert['certificate_id']}/revoke", json={"reason": "Closed"},
                                         headers=tokens.regulator())  # fmt: skip
    assert revoked.status_code == 200


async def test_a_regulator_records_non_compliance(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid)
    url = f"/v1/facilities/{fid}/noncompliance"
    body = {"summary": "Critical: no aseptic process simulation since 2024", "certificate_id": cert["certificate_id"]}
    assert (await registry.client.post(url, json=body, headers=tokens.facility(fid))).status_code == 403
    recorded = await registry.client.post(url, json=body, headers=tokens.regulator("DE-PEI"))
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["authority"] == "DE-PEI" and recorded.json()["recorded_by"] == "regulator:inspector-1"
    [event] = await registry.outbox_events("gmphub.registry.noncompliance.recorded.v1")
    assert event["data"]["statement_id"] == recorded.json()["statement_id"] and event["data"]["version"] == 3
    read = (await registry.client.get(f"/v1/facilities/{fid}", headers=tokens.developer())).json()
    assert read["noncompliance"][0]["summary"] == body["summary"]
    foreign = await registry.client.post(url, json=body | {"certificate_id": MISSING}, headers=tokens.regulator())
    assert foreign.status_code == 404
    assert await version_of(registry, fid) == 3


async def test_racing_regulators_change_a_certificate_once(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid)
    url, pei = f"/v1/certificates/{cert['certificate_id']}", tokens.regulator("DE-PEI")
    answers = await asyncio.gather(
        *(registry.client.post(f"{url}/suspend", json={"reason": f"finding {i}"}, headers=pei) for i in range(4))
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409]
    assert len(await registry.outbox_events("gmphub.registry.certificate.suspended.v1")) == 1
    assert await version_of(registry, fid) == 3

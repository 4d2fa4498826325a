"""EMA identifiers: a facility's OMS organisation and location ids (validated, stored prefixed, one
active facility per location, searchable, in the events) and the EudraGMDP reference of
certificates and non-compliance statements (as issued, searchable)."""

from tests.integration.registry.helpers import FACILITY, counts, create_facility, issue_certificate, version_of

OMS = {"oms_organisation_id": "ORG-100001699", "oms_location_id": "LOC-100000151"}


async def test_bare_digits_are_stored_prefixed_and_travel_in_the_events(registry, tokens):
    facility = await create_facility(
        registry, tokens, oms_organisation_id="100001699", oms_location_id=" loc-100000151"
    )
    assert (facility["oms_organisation_id"], facility["oms_location_id"]) == ("ORG-100001699", "LOC-100000151")
    [registered] = await registry.outbox_events("gmphub.registry.facility.registered.v1")
    assert registered["data"]["facility"]["oms_location_id"] == "LOC-100000151"
    assert registered["data"]["facility"]["oms_organisation_id"] == "ORG-100001699"
    stored = await registry.sql("SELECT oms_organisation_id, oms_location_id FROM facility")
    assert [tuple(row) for row in stored] == [("ORG-100001699", "LOC-100000151")]


async def test_malformed_oms_ids_are_refused_and_change_nothing(registry, tokens):
    cases = [
        {"oms_location_id": "LOC-10000015"},  # 8 digits
        {"oms_location_id": "LOC-1000001510"},  # 10 digits
        {"oms_location_id": "ORG-100000151"},  # an organisation id where the location goes
        {"oms_organisation_id": "LOC-100001699"},
        {"oms_organisation_id": "ORG 100001699"},
        {"oms_location_id": "LOC-10000015x"},
    ]
    for bad in cases:
        response = await registry.client.post("/v1/facilities", json=_facility() | bad, headers=tokens.admin())
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        [(field, value)] = bad.items()
        assert response.json()["field"] == field and repr(value) in response.json()["detail"]
    assert await counts(registry) == (0, 0, 0, 0)


async def test_one_active_facility_per_oms_location(registry, tokens):
    first = await create_facility(registry, tokens, **OMS)
    before = await counts(registry)
    twice = await registry.client.post(
        "/v1/facilities", json=_facility(oms_location_id="100000151"), headers=tokens.admin()
    )
    assert twice.status_code == 409 and twice.headers["content-type"] == "application/problem+json"
    assert twice.json()["facility_id"] == first["facility_id"] and "LOC-100000151" in twice.json()["detail"]
    assert await counts(registry) == before

    other = await create_facility(registry, tokens, oms_location_id="LOC-100000152")
    moved = await registry.client.patch(
        f"/v1/facilities/{other['facility_id']}", json={"oms_location_id": "LOC-100000151"},
        headers=tokens.facility(other["facility_id"]) | {"If-Match": "*"},
    )  # fmt: skip
    assert moved.status_code == 409 and await version_of(registry, other["facility_id"]) == 1

    # a deactivated facility frees its location; it cannot come back while another holds it
    fid = first["facility_id"]
    gone = await registry.client.post(f"/v1/facilities/{fid}/deactivate", json={"reason": "Site closed"},
                                      headers=tokens.admin())  # fmt: skip
    assert gone.status_code == 200
    await create_facility(registry, tokens, oms_location_id="LOC-100000151", legal_name="The site's new operator")
    back = await registry.client.post(f"/v1/facilities/{fid}/reactivate", json={"reason": "Mistake"},
                                      headers=tokens.admin())  # fmt: skip
    assert back.status_code == 409 and await version_of(registry, fid) == 2


async def test_facilities_are_found_by_oms_ids_in_either_spelling(registry, tokens):
    charite = await create_facility(registry, tokens, **OMS)
    await create_facility(registry, tokens, oms_organisation_id="ORG-100001699", oms_location_id="LOC-100000152",
                          legal_name="Charité Campus Benjamin Franklin")  # fmt: skip
    await create_facility(registry, tokens, legal_name="Without OMS ids")

    async def found(**query: str) -> list[str]:
        response = await registry.client.get("/v1/facilities", params=query, headers=tokens.developer())
        assert response.status_code == 200, response.text
        return sorted(f["legal_name"] for f in response.json()["items"])

    assert await found(oms_location_id="LOC-100000151") == [charite["legal_name"]]
    assert await found(oms_location_id="100000151") == [charite["legal_name"]]
    assert await found(oms_organisation_id="100001699") == ["Charité Campus Benjamin Franklin", charite["legal_name"]]
    assert await found(oms_location_id="LOC-999999999") == []
    bad = await registry.client.get("/v1/facilities", params={"oms_location_id": "151"}, headers=tokens.developer())
    assert bad.status_code == 422 and bad.json()["field"] == "oms_location_id"


async def test_eudragmdp_references_are_kept_as_issued_and_searchable(registry, tokens):
    fid = (await create_facility(registry, tokens, **OMS))["facility_id"]
    reference = "DE_BE_01_GMP_2026_0117"
    cert = await issue_certificate(registry, tokens, fid, eudragmdp_ref=f" {reference} ")
    assert cert["eudragmdp_ref"] == reference and cert["authority"] == "DE-PEI"
    [issued] = await registry.outbox_events("gmphub.registry.certificate.issued.v1")
    assert issued["data"]["certificate"]["eudragmdp_ref"] == reference
    statement = await registry.client.post(
        f"/v1/facilities/{fid}/noncompliance",
        json={"summary": "Critical deviation in aseptic processing", "eudragmdp_ref": "NCR-DE-2026-0042"},
        headers=tokens.regulator("DE-PEI"),
    )
    assert statement.status_code == 201 and statement.json()["eudragmdp_ref"] == "NCR-DE-2026-0042"
    [recorded] = await registry.outbox_events("gmphub.registry.noncompliance.recorded.v1")
    assert recorded["data"]["eudragmdp_ref"] == "NCR-DE-2026-0042"
    await create_facility(registry, tokens, legal_name="Another site")

    by_ref = await registry.client.get("/v1/certificates", params={"eudragmdp_ref": reference},
                                       headers=tokens.developer())  # fmt: skip
    assert [c["certificate_id"] for c in by_ref.json()] == [cert["certificate_id"]]
    for ref in (reference, "NCR-DE-2026-0042"):
        found = await registry.client.get("/v1/facilities", params={"eudragmdp_ref": ref}, headers=tokens.developer())
        assert [f["facility_id"] for f in found.json()["items"]] == [fid]
    assert (await registry.client.get("/v1/certificates", params={"eudragmdp_ref": "nope"},
                                      headers=tokens.developer())).json() == []  # fmt: skip
    unbounded = await registry.client.get("/v1/certificates", headers=tokens.developer())
    assert unbounded.status_code == 422


async def test_a_certificate_without_a_reference_hashes_as_before_the_field_existed(registry, tokens):
    """Signatures made before certificates had a EudraGMDP reference hashed a state without it."""
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid)
    assert "eudragmdp_ref" not in cert
    [issued] = await registry.outbox_events("gmphub.registry.certificate.issued.v1")
    assert "eudragmdp_ref" not in issued["data"]["certificate"]


def _facility(**overrides: str) -> dict:
    return FACILITY | overrides


async def test_the_openapi_document_still_describes_a_certificates_fields(registry):
    """Leaving the unset reference out of the JSON must not turn the documented answer into a bare object."""
    schemas = (await registry.client.get("/openapi.json")).json()["components"]["schemas"]
    documented = {name: set(s.get("properties", {})) for name, s in schemas.items() if name.startswith("Certificate")}
    assert {"number", "authority", "eudragmdp_ref", "signatures"} <= documented["CertificateRecord"]
    assert {"oms_organisation_id", "oms_location_id"} <= set(schemas["FacilityDetail"]["properties"])


async def test_certificates_are_found_a_page_at_a_time_each_page_linking_the_next(registry, tokens):
    numbers = [f"DE-PEI-GMP-2026-{n:04d}" for n in range(1, 6)]
    for number in numbers:
        fid = (await create_facility(registry, tokens, legal_name=f"Site {number}"))["facility_id"]
        await issue_certificate(registry, tokens, fid, number=number)
    seen, pages, url, params = [], [], "/v1/certificates", {"authority": "DE-PEI", "page_size": 2}
    while url:
        page = await registry.client.get(url, params=params, headers=tokens.developer())
        assert page.status_code == 200, page.text
        pages.append(len(page.json()))
        seen += [c["number"] for c in page.json()]
        link = page.headers.get("link")
        url, params = (link.split(">")[0].lstrip("<"), None) if link else (None, None)
        assert link is None or link.endswith('; rel="next"')
    assert pages == [2, 2, 1] and sorted(seen) == numbers  # every one once
    beyond = await registry.client.get("/v1/certificates", params={"authority": "DE-PEI", "page": 9},
                                       headers=tokens.developer())  # fmt: skip
    assert beyond.json() == [] and "link" not in beyond.headers
    too_big = await registry.client.get("/v1/certificates", params={"authority": "DE-PEI", "page_size": 101},
                                        headers=tokens.developer())  # fmt: skip
    assert too_big.status_code == 422 and too_big.headers["content-type"] == "application/problem+json"

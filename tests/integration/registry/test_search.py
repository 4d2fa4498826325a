"""Searching facilities by country, capability, cleanroom grade and certification, paginated."""

from tests.integration.registry.helpers import add_suite, create_facility, issue_certificate


async def ids(registry, tokens, **params) -> list[str]:
    response = await registry.client.get("/v1/facilities", params=params, headers=tokens.developer())
    assert response.status_code == 200, response.text
    return [f["legal_name"] for f in response.json()["items"]]


async def test_search_filters_combine(registry, tokens):
    berlin = (await create_facility(registry, tokens, legal_name="Berlin CAR-T Unit"))["facility_id"]
    leiden = (await create_facility(registry, tokens, legal_name="Leiden Vector Facility", country="NL",
                                    city="Leiden"))["facility_id"]  # fmt: skip
    lyon = (await create_facility(registry, tokens, legal_name="Lyon Tissue Lab", country="FR",
                                  city="Lyon", kind="tissue_establishment"))["facility_id"]  # fmt: skip
    closed = (await create_facility(registry, tokens, legal_name="Closed Berlin Site"))["facility_id"]
    await add_suite(registry, tokens, berlin, cleanroom_grade="B", atmp_types=["gene_therapy", "somatic_cell_therapy"],
                    processes=["car_t", "clinimacs_prodigy"])  # fmt: skip
    await add_suite(registry, tokens, leiden, cleanroom_grade="A", atmp_types=["gene_therapy"], processes=["aav"])
    retired = await add_suite(registry, tokens, lyon, cleanroom_grade="isolator", atmp_types=["tissue_engineered"],
                              processes=["car_t"])  # fmt: skip
    await registry.client.post(f"/v1/facilities/{lyon}/suites/{retired['suite_id']}/retire",
                               json={"reason": "Decommissioned"}, headers=tokens.facility(lyon))  # fmt: skip
    await add_suite(registry, tokens, closed, atmp_types=["gene_therapy"], processes=["car_t"])
    await registry.client.post(f"/v1/facilities/{closed}/deactivate", json={"reason": "Closed"}, headers=tokens.admin())
    await issue_certificate(registry, tokens, berlin, operations=["aseptic_manufacture", "batch_certification"])
    leiden_cert = await issue_certificate(registry, tokens, leiden, authority="NL-IGJ", number="NL-1",
                                          operations=["batch_certification"])  # fmt: skip
    await registry.client.post(f"/v1/certificates/{leiden_cert['certificate_id']}/suspend",
                               json={"reason": "Findings"}, headers=tokens.regulator("NL-IGJ"))  # fmt: skip

    assert await ids(registry, tokens) == ["Berlin CAR-T Unit", "Leiden Vector Facility", "Lyon Tissue Lab"]
    assert await ids(registry, tokens, include_inactive=True) == [
        "Berlin CAR-T Unit", "Closed Berlin Site", "Leiden Vector Facility", "Lyon Tissue Lab"
    ]  # fmt: skip
    assert await ids(registry, tokens, country="DE") == ["Berlin CAR-T Unit"]
    assert await ids(registry, tokens, atmp_type="gene_therapy") == ["Berlin CAR-T Unit", "Leiden Vector Facility"]
    assert await ids(registry, tokens, process="car_t") == ["Berlin CAR-T Unit"]  # Lyon's car_t suite is retired
    assert await ids(registry, tokens, atmp_type="gene_therapy", cleanroom_grade="A") == ["Leiden Vector Facility"]
    assert await ids(registry, tokens, process="aav", cleanroom_grade="B") == []  # one suite must have both
    assert await ids(registry, tokens, operation="batch_certification") == ["Berlin CAR-T Unit"]  # valid only
    assert await ids(registry, tokens, operation="batch_certification", certificate_status="suspended") == [
        "Leiden Vector Facility"
    ]
    assert await ids(registry, tokens, certificate_status="valid") == ["Berlin CAR-T Unit"]
    assert await ids(registry, tokens, q="lyon") == ["Lyon Tissue Lab"]
    assert await ids(registry, tokens, q="%") == []  # wildcards are literal


async def test_search_pages_and_checks_its_terms(registry, tokens):
    for i in range(5):
        await create_facility(registry, tokens, legal_name=f"Facility {i}")
    page = await registry.client.get("/v1/facilities", params={"page": 2, "page_size": 2}, headers=tokens.facility("x"))
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 5 and body["page"] == 2 and body["page_size"] == 2
    assert [f["legal_name"] for f in body["items"]] == ["Facility 2", "Facility 3"]
    past_end = await registry.client.get("/v1/facilities", params={"page": 9}, headers=tokens.regulator())
    assert past_end.json()["items"] == [] and past_end.json()["total"] == 5

    for param, term in (("atmp_type", "xeno"), ("process", "alchemy"), ("cleanroom_grade", "E"),
                        ("operation", "brewing"), ("certificate_status", "lapsed"), ("country", "XX")):  # fmt: skip
        bad = await registry.client.get("/v1/facilities", params={param: term}, headers=tokens.developer())
        assert bad.status_code == 422, (param, bad.text)
        assert bad.json()["term"] == term and bad.json()["allowed"]
    assert (
        await registry.client.get("/v1/facilities", params={"page_size": 500}, headers=tokens.admin())
    ).status_code == 422
    assert (await registry.client.get("/v1/facilities")).status_code == 401

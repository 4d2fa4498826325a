"""The competent-authority rule: a site in an EU/EEA state is certified (and suspended, revoked,
reinstated, found non-compliant) by that state's authorities only; a third-country site by any
EU/EEA authority. Refused as 403 naming the rule, for the hub operator too, changing nothing."""

from tests.integration.registry.helpers import certificate, counts, create_facility, issue_certificate

RULE = "competent_authority"


def refused_by_the_rule(response, authority: str, country: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["rule"] == RULE and problem["title"] == "Authority not competent for the site"
    assert (problem["authority"], problem["site_country"]) == (authority, country)
    assert RULE in problem["detail"] and authority in problem["detail"]


async def test_a_site_in_a_member_state_is_certified_by_that_states_authorities_only(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]  # Berlin, DE
    url = f"/v1/facilities/{fid}/certificates"
    before = await counts(registry)
    ansm = await registry.client.post(url, json=certificate("FR-1"), headers=tokens.regulator("FR-ANSM"))
    refused_by_the_rule(ansm, "FR-ANSM", "DE")
    assert "DE-PEI" in ansm.json()["competent"] and "FR-ANSM" not in ansm.json()["competent"]
    ema = await registry.client.post(url, json=certificate("EMA-1"), headers=tokens.regulator("EMA"))
    refused_by_the_rule(ema, "EMA", "DE")  # EMA inspects through the member states' authorities
    statement = await registry.client.post(f"/v1/facilities/{fid}/noncompliance", json={"summary": "Findings"},
                                           headers=tokens.regulator("NL-IGJ"))  # fmt: skip
    refused_by_the_rule(statement, "NL-IGJ", "DE")
    unknown = await registry.client.post(url, json=certificate("XX-1"), headers=tokens.regulator("XX-NOBODY"))
    refused_by_the_rule(unknown, "XX-NOBODY", "DE")
    assert "not an authority the hub knows" in unknown.json()["detail"]
    assert await counts(registry) == before

    # each of the state's own authorities may: the federal one and the Land's
    await issue_certificate(registry, tokens, fid, authority="DE-PEI", number="DE-PEI-1")
    await issue_certificate(registry, tokens, fid, authority="DE-LAGeSo", number="DE-BE-1")


async def test_the_hub_operator_cannot_set_the_rule_aside(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    url = f"/v1/facilities/{fid}/certificates"
    before = await counts(registry)
    for authority in ("FR-ANSM", "EMA"):
        as_admin = await registry.client.post(url, json=certificate(authority=authority), headers=tokens.admin())
        refused_by_the_rule(as_admin, authority, "DE")
    statement = await registry.client.post(f"/v1/facilities/{fid}/noncompliance",
                                           json={"summary": "Findings", "authority": "IT-AIFA"},
                                           headers=tokens.admin())  # fmt: skip
    refused_by_the_rule(statement, "IT-AIFA", "DE")
    unknown = await registry.client.post(url, json=certificate(authority="DE-NOWHERE"), headers=tokens.admin())
    assert unknown.status_code == 422 and unknown.json()["term"] == "DE-NOWHERE"
    assert await counts(registry) == before


async def test_a_third_country_site_is_certified_by_any_eu_eea_authority(registry, tokens):
    fid = (await create_facility(registry, tokens, country="US", city="Philadelphia", address="3400 Civic Center Blvd",
                                 authorisation_number="FEI-3012345678", authorisation_authority="US-FDA"))["facility_id"]  # fmt: skip
    for authority, number in (("FR-ANSM", "FR-1"), ("NO-NOMA", "NO-1"), ("DE-PEI", "DE-1")):
        await issue_certificate(registry, tokens, fid, authority=authority, number=number)
    url = f"/v1/facilities/{fid}/certificates"
    refused_by_the_rule(
        await registry.client.post(url, json=certificate("EMA-1"), headers=tokens.regulator("EMA")), "EMA", "US"
    )
    statement = await registry.client.post(f"/v1/facilities/{fid}/noncompliance", json={"summary": "Data integrity"},
                                           headers=tokens.regulator("IE-HPRA"))  # fmt: skip
    assert statement.status_code == 201 and statement.json()["authority"] == "IE-HPRA"


async def test_a_certificate_issued_against_the_rule_is_changed_by_the_sites_own_authority(registry, tokens):
    """A certificate from before the rule (a DE site certified by FR-ANSM, as happened): its issuer
    is refused by the rule, the admin acting for it too; the site's own authority may suspend it,
    and signs as itself. Another state's authority may not."""
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid, authority="DE-PEI")
    await registry.sql("UPDATE certificate SET authority = 'FR-ANSM' WHERE id = :id", id=cert["certificate_id"])
    url = f"/v1/certificates/{cert['certificate_id']}"
    before = await counts(registry)
    for headers in (tokens.regulator("FR-ANSM"), tokens.admin()):
        for action, body in (("suspend", {"reason": "Findings"}), ("revoke", {"reason": "Findings"})):
            refused_by_the_rule(await registry.client.post(f"{url}/{action}", json=body, headers=headers),
                                "FR-ANSM", "DE")  # fmt: skip
    other_state = await registry.client.post(f"{url}/suspend", json={"reason": "x" * 5},
                                             headers=tokens.regulator("NL-IGJ"))  # fmt: skip
    assert other_state.status_code == 403 and "rule" not in other_state.json()
    assert await counts(registry) == before

    suspended = await registry.client.post(f"{url}/suspend", json={"reason": "Sterility findings"},
                                           headers=tokens.regulator("DE-PEI"))  # fmt: skip
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    [signature] = await registry.sql(
        "SELECT authority, action FROM certificate_signature WHERE certificate_id = :id AND action <> 'issued'",
        id=cert["certificate_id"],
    )
    assert (signature.authority, signature.action) == ("DE-PEI", "suspended")


async def test_a_facility_cannot_move_itself_out_of_its_authoritys_reach(registry, tokens):
    """The country decides who is competent, so only the hub operator changes it (as it checked it at onboarding)."""
    fid = (await create_facility(registry, tokens))["facility_id"]
    moved = await registry.client.patch(f"/v1/facilities/{fid}", json={"country": "US"},
                                        headers=tokens.facility(fid) | {"If-Match": '"1"'})  # fmt: skip
    assert moved.status_code == 422 and moved.json()["fields"] == ["country"]
    refused_by_the_rule(
        await registry.client.post(f"/v1/facilities/{fid}/certificates", json=certificate("FR-1"),
                                   headers=tokens.regulator("FR-ANSM")), "FR-ANSM", "DE",
    )  # fmt: skip

"""Journey 4 of the regulators: the facilities of their jurisdiction; a GMP certificate issued,
suspended, reinstated and revoked, each recorded with who, when and why; a non-compliance
statement; an issue the registry refuses, which changes nothing; and the bookings a suspension
puts at risk, as far as a regulator may see them."""

from datetime import date, timedelta

from playwright.async_api import Page, expect

from tests.portal.browser import checked
from tests.portal.journeys import sign_in_as_regulator
from tests.portal.seeding import Seeded
from tests.support import RunningService, Tokens, eventually

CHARITE = "Charité GMP Unit for Cell Therapy"
NUMBER = "DE-PEI-GMP-2026-0117"


async def facility(registry: RunningService, tokens: Tokens, facility_id: str) -> dict:
    answer = await registry.client.get(f"/v1/facilities/{facility_id}", headers=tokens.developer())
    assert answer.status_code == 200, answer.text
    return answer.json()


async def certificate(registry: RunningService, tokens: Tokens, certificate_id: str) -> dict:
    answer = await registry.client.get(f"/v1/certificates/{certificate_id}", headers=tokens.developer())
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_regulator_issues_suspends_reinstates_and_revokes_a_certificate_and_records_non_compliance(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    registry, berlin, today = clean_hub["registry"], seeded.facilities[0], date.today()
    page = browser_page
    await sign_in_as_regulator(page)
    await page.get_by_role("link", name="Facilities").click()
    await expect(page.get_by_role("heading", name="Facilities of DE-PEI")).to_be_visible()
    home = page.locator("section", has=page.get_by_role("heading", name="Sites in DE"))
    await expect(home.locator("tbody tr")).to_have_count(1)
    await expect(home.locator("tbody tr")).to_contain_text(CHARITE)
    await expect(home.locator("tbody tr .badge")).to_have_text("valid")
    await expect(page.get_by_text("Leiden GMP Facility")).to_have_count(0)  # a site in NL: NL-IGJ's
    await checked(page, "regulator-facilities")
    await home.get_by_role("link", name=CHARITE).click()
    await expect(page.get_by_role("heading", name=CHARITE)).to_be_visible()
    rows = page.locator("table.certificates tbody tr")
    await expect(rows).to_have_count(1)

    # Expiry before issue: the registry's refusal beside the form, kept as filled in, nothing issued.
    issue = page.locator("section", has=page.get_by_role("heading", name="Issue a certificate"))
    await issue.get_by_label("Certificate number").fill(NUMBER)
    await issue.get_by_label("Issued on").fill(str(today - timedelta(days=1)))
    await issue.get_by_label("Expires on").fill(str(today - timedelta(days=30)))
    await issue.get_by_label("Somatic cell therapy medicinal product").check()
    await issue.get_by_label("Manufacture of sterile products, aseptically prepared").check()
    await issue.get_by_role("button", name="Issue the certificate (sign)").click()
    await expect(issue.get_by_role("alert")).to_contain_text(
        f"The expiry date {today - timedelta(days=30)} must be after the issue date {today - timedelta(days=1)}."
    )
    await expect(issue.get_by_label("Certificate number")).to_have_value(NUMBER)
    await expect(issue.get_by_label("Somatic cell therapy medicinal product")).to_be_checked()
    await expect(rows).to_have_count(1)
    assert len((await facility(registry, tokens, berlin))["certificates"]) == 1
    await checked(page, "regulator-certificate-refused", at="Issue a certificate")

    await issue.get_by_label("Expires on").fill(str(today + timedelta(days=2 * 365)))
    await issue.get_by_role("button", name="Issue the certificate (sign)").click()
    row = rows.filter(has_text=NUMBER)
    await expect(row.locator(".badge")).to_have_text("valid")
    issued = next(c for c in (await facility(registry, tokens, berlin))["certificates"] if c["number"] == NUMBER)
    assert (issued["authority"], issued["status"], issued["expires_on"]) == (
        "DE-PEI", "valid", str(today + timedelta(days=2 * 365)))  # fmt: skip
    assert (issued["atmp_types"], issued["operations"]) == (["somatic_cell_therapy"], ["aseptic_manufacture"])

    card = page.locator("article", has=page.get_by_role("heading", name=f"Certificate {NUMBER}"))
    await expect(card).to_contain_text("The facility also holds DE-PEI-GMP-")  # the seeded one, still in force
    await card.get_by_label("Reason").fill("Sterility failures at the inspection")
    await checked(page, "regulator-certificate", at=f"Certificate {NUMBER}")
    await card.get_by_role("button", name="Suspend (sign)").click()
    await expect(row.locator(".badge")).to_have_text("suspended")
    await expect(row).to_contain_text("Sterility failures at the inspection")
    suspended = await certificate(registry, tokens, issued["certificate_id"])
    assert (suspended["status"], suspended["reason"]) == ("suspended", "Sterility failures at the inspection")

    await card.get_by_label("Reason").fill("Corrective actions verified on site")
    await card.get_by_role("button", name="Reinstate (sign)").click()
    await expect(row.locator(".badge")).to_have_text("valid")
    reinstated = await certificate(registry, tokens, issued["certificate_id"])
    assert (reinstated["status"], reinstated["reason"]) == ("valid", "Corrective actions verified on site")

    await card.get_by_label("Reason").fill("Data integrity breaches confirmed")
    await card.get_by_role("button", name="Revoke (sign)").click()
    await expect(row.locator(".badge")).to_have_text("revoked")
    await expect(card).to_have_count(0)  # final: nothing left to sign
    assert (await certificate(registry, tokens, issued["certificate_id"]))["status"] == "revoked"

    statements = page.locator("section", has=page.get_by_role("heading", name="Non-compliance statements"))
    await statements.get_by_label("Statement").fill("Critical deviations in aseptic processing; data integrity")
    await statements.get_by_label("Certificate it concerns").select_option(label=f"{NUMBER} (revoked)")
    await statements.get_by_role("button", name="Record the statement (sign)").click()
    await expect(statements.locator("tbody tr")).to_have_count(1)
    await expect(statements.locator("tbody tr")).to_contain_text("Critical deviations in aseptic processing")
    await expect(statements.locator("tbody tr")).to_contain_text(NUMBER)
    recorded = (await facility(registry, tokens, berlin))["noncompliance"]
    assert [(s["authority"], s["certificate_id"], s["summary"]) for s in recorded] == [
        ("DE-PEI", issued["certificate_id"], "Critical deviations in aseptic processing; data integrity")]  # fmt: skip

    records = page.locator("table.records tbody tr")
    await expect(records.first).to_contain_text("non-compliance recorded")
    signed = records.filter(has_text="certificate suspended")
    await expect(signed).to_contain_text(NUMBER)
    await expect(signed).to_contain_text("regulator:portal-regulator")
    await expect(signed).to_contain_text("Sterility failures at the inspection")
    await expect(records.filter(has_text="certificate revoked")).to_contain_text("Data integrity breaches confirmed")
    await checked(page, "regulator-certificate-records", at="Signed records")

    # A site in NL is NL-IGJ's: its page shows its certificates, but nothing for DE-PEI to sign.
    await page.goto(f"/certificates/facilities/{seeded.facilities[1]}")
    await expect(page.get_by_text("Outside DE-PEI's jurisdiction: a site in NL is certified by")).to_be_visible()
    await expect(page.locator("table.certificates tbody tr")).to_contain_text("NL-IGJ")
    await expect(page.get_by_role("heading", name="Issue a certificate")).to_have_count(0)
    await expect(page.get_by_role("button", name="Suspend (sign)")).to_have_count(0)
    await expect(page.get_by_role("button", name="Record the statement (sign)")).to_have_count(0)


async def hold(scheduling: RunningService, tokens: Tokens, facility_id: str) -> str:
    slots = await scheduling.client.get("/v1/slots", params={"facility_id": facility_id}, headers=tokens.developer())
    body = {"slot_ids": [slots.json()["items"][0]["slot_id"]], "product": "CAR-T CD19", "run_kind": "development"}
    answer = await scheduling.client.post("/v1/bookings", json=body, headers=tokens.developer())
    assert answer.status_code == 201, answer.text
    return answer.json()["booking_id"]


async def test_suspending_a_facilitys_only_certificate_warns_and_puts_its_bookings_at_risk(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    registry, scheduling, berlin = clean_hub["registry"], clean_hub["scheduling"], seeded.facilities[0]
    booking_id = await hold(scheduling, tokens, berlin)
    number = (await certificate(registry, tokens, seeded.certificates[0]))["number"]

    async def reasons() -> list[str]:
        answer = await scheduling.client.get(f"/v1/bookings/{booking_id}", headers=tokens.facility(berlin))
        return answer.json()["at_risk_reasons"]

    assert await reasons() == []
    page = browser_page
    await sign_in_as_regulator(page)
    await page.goto(f"/certificates/facilities/{berlin}")
    risk = page.locator("section", has=page.get_by_role("heading", name="Bookings put at risk"))
    await expect(risk).to_contain_text(
        f"None by its certificates: the facility holds 1 valid GMP certificate ({number})"
    )
    await expect(risk).to_contain_text(
        "scheduling lets only the developer who booked, the facility and the hub operator"
    )
    card = page.locator("article", has=page.get_by_role("heading", name=f"Certificate {number}"))
    await expect(card.locator(".warning")).to_contain_text("This is the facility's only valid GMP certificate")
    await card.get_by_label("Reason").fill("Sterility failures at the inspection")
    await card.get_by_role("button", name="Suspend (sign)").click()

    await expect(risk.get_by_role("status")).to_contain_text(
        "The facility holds no valid GMP certificate: scheduling flags every future open booking there as at risk"
    )
    await checked(page, "regulator-certificate-risk", at="Bookings put at risk")
    # What the page says is what scheduling does: the booking, as its facility reads it, is at risk.
    flagged = await eventually(reasons)
    assert flagged == [f"GMP certificate {number} is suspended: Sterility failures at the inspection"]
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Facilities").click()
    charite = page.locator("tbody tr", has_text="Charité GMP Unit for Cell Therapy")
    await expect(charite.locator(".badge")).to_have_text("none valid")
    await charite.get_by_role("link").click()

    await expect(card).to_contain_text("Reinstating it certifies the facility again")
    await card.get_by_label("Reason").fill("Corrective actions verified on site")
    await card.get_by_role("button", name="Reinstate (sign)").click()
    await expect(risk).to_contain_text("None by its certificates")

    async def cleared() -> bool:
        return await reasons() == []

    await eventually(cleared)


async def test_a_certificate_revoked_meanwhile_is_not_suspended_and_the_refusal_is_shown(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    registry, berlin = clean_hub["registry"], seeded.facilities[0]
    number = (await certificate(registry, tokens, seeded.certificates[0]))["number"]
    page = browser_page
    await sign_in_as_regulator(page)
    await page.goto(f"/certificates/facilities/{berlin}")
    card = page.locator("article", has=page.get_by_role("heading", name=f"Certificate {number}"))
    await card.get_by_label("Reason").fill("Sterility failures at the inspection")
    revoked = await registry.client.post(  # by a colleague, while this page was open
        f"/v1/certificates/{seeded.certificates[0]}/revoke", json={"reason": "Fraudulent batch records"},
        headers=tokens.regulator("DE-PEI", sub="inspector-2"),
    )  # fmt: skip
    assert revoked.status_code == 200, revoked.text
    await card.get_by_role("button", name="Suspend (sign)").click()

    section = page.locator("section", has=page.get_by_role("heading", name="GMP certificates"))
    await expect(section.get_by_role("alert")).to_contain_text(
        "A revoked certificate cannot be suspended; 'suspend' applies to valid certificates."
    )
    await expect(section.locator("tbody tr .badge")).to_have_text("revoked")
    await expect(card).to_have_count(0)
    state = await certificate(registry, tokens, seeded.certificates[0])
    assert (state["status"], state["reason"]) == ("revoked", "Fraudulent batch records")
    await checked(page, "regulator-certificate-stale")

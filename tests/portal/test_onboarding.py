"""Journey 7, the operator's facilities: a facility onboarded (a country registry does not know is
refused with its reason and nothing is made) is listed and in the registry; deactivated with a
reason (a stale page is refused and switches nothing) and reactivated, its history shows both with
their reasons."""

from playwright.async_api import Page, expect

from tests.portal.browser import checked
from tests.portal.journeys import sign_in_as_admin
from tests.portal.seeding import Seeded
from tests.support import RunningService, Tokens

NAME = "Karolinska ATMP Centre"


async def test_the_operator_onboards_a_facility_then_deactivates_and_reactivates_it_with_reasons(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    registry, admin = clean_hub["registry"], tokens.admin()

    async def in_registry() -> list[dict]:
        found = await registry.client.get(
            "/v1/facilities", params={"q": NAME, "include_inactive": "true"}, headers=admin
        )
        assert found.status_code == 200, found.text
        return found.json()["items"]

    page = browser_page
    await sign_in_as_admin(page)
    await page.get_by_role("link", name="Facilities", exact=True).click()
    await expect(page.get_by_role("heading", name="2 facilities")).to_be_visible()
    await expect(page.locator("table.facilities tbody tr").first).to_contain_text("active")

    await page.get_by_label("Legal name").fill(NAME)
    await page.get_by_label("Kind").select_option("academic_gmp_unit")
    await page.get_by_label("Country (two letters)").fill("XX")
    await page.get_by_label("City").fill("Stockholm")
    await page.get_by_label("Address").fill("Hälsovägen 7")
    await page.get_by_label("Contact email").fill("atmp@karolinska.example.org")
    await page.get_by_label("Authorisation number").fill("SE-MIA-2026-0007")
    await page.get_by_label("Issuing authority").fill("SE-MPA")
    await checked(page, "operator-facilities", at="Onboard a facility")
    await page.get_by_role("button", name="Onboard the facility").click()
    await expect(page.locator(".problem")).to_contain_text("Registry refused: Unknown country code 'XX'")
    await expect(page.get_by_label("Legal name")).to_have_value(NAME)  # nothing typed is lost
    await expect(page.get_by_role("heading", name="2 facilities")).to_be_visible()
    assert await in_registry() == []

    await page.get_by_label("Country (two letters)").fill("se")
    await page.get_by_role("button", name="Onboard the facility").click()
    await expect(page.get_by_role("heading", name=NAME)).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text(f"{NAME} is onboarded.")
    [facility] = await in_registry()
    assert (facility["country"], facility["city"], facility["authorisation_number"], facility["active"]) == (
        "SE", "Stockholm", "SE-MIA-2026-0007", True,
    )  # fmt: skip
    assert f"/operator/facilities/{facility['facility_id']}?" in page.url
    await page.get_by_role("link", name="All facilities").click()
    await expect(page.get_by_role("heading", name="3 facilities")).to_be_visible()
    await page.get_by_label("Search").fill("stockholm")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("heading", name="1 facility", exact=True)).to_be_visible()
    row = page.locator("table.facilities tbody tr", has_text=NAME)
    await expect(row).to_contain_text("Stockholm, SE")
    await expect(row).to_contain_text("active")
    await row.get_by_role("link", name=NAME).click()

    # Someone changes the facility while the page is open: deactivating on what it shows is refused.
    changed = await registry.client.patch(
        f"/v1/facilities/{facility['facility_id']}", json={"city": "Solna"}, headers=admin | {"If-Match": "*"}
    )
    assert changed.status_code == 200, changed.text
    await page.get_by_label("Reason").fill("Site closed for refurbishment until spring")
    await page.get_by_role("button", name="Deactivate the facility").click()
    await expect(page.locator(".problem")).to_contain_text("Registry refused: The facility changed since you read it")
    assert (await in_registry())[0]["active"] is True
    await expect(page.locator("dl.facts")).to_contain_text("Solna")  # the page shows it as it is now
    await expect(page.get_by_label("Reason")).to_have_value("Site closed for refurbishment until spring")
    await checked(page, "operator-facility")
    await page.get_by_role("button", name="Deactivate the facility").click()
    await expect(page.get_by_role("status")).to_have_text("The facility is deactivated.")
    await expect(page.locator("dl.facts")).to_contain_text("deactivated Site closed for refurbishment until spring")
    [facility] = await in_registry()
    assert facility["active"] is False

    await page.get_by_role("link", name="All facilities").click()
    await expect(page.locator("table.facilities tbody tr", has_text=NAME)).to_contain_text("deactivated")
    await page.get_by_role("link", name=NAME).click()
    await page.get_by_label("Reason").fill("Refurbishment done; cleanrooms requalified")
    await page.get_by_role("button", name="Reactivate the facility").click()
    await expect(page.get_by_role("status")).to_have_text("The facility is reactivated.")
    assert (await in_registry())[0]["active"] is True

    history = page.locator("ol.facility-history li")
    await expect(history).to_have_count(4)  # registered, updated (the city), deactivated, reactivated
    await expect(history.nth(0)).to_contain_text("facility registered by admin:portal-admin")
    await expect(history.nth(2)).to_contain_text(
        "facility deactivated by admin:portal-admin: Site closed for refurbishment until spring"
    )
    await expect(history.nth(3)).to_contain_text(
        "facility reactivated by admin:portal-admin: Refurbishment done; cleanrooms requalified"
    )
    await checked(page, "operator-facility-history", at="History")

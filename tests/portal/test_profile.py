"""Journey 7, a facility's profile and suites: contact details saved (a stale form is refused with
registry's reason), a suite added with capabilities picked from the vocabularies, one retired."""

from playwright.async_api import Page, expect

from tests.portal.browser import checked
from tests.portal.journeys import sign_in_as_facility
from tests.portal.seeding import FACILITIES, Seeded
from tests.support import RunningService, Tokens


async def test_a_facility_keeps_its_profile_and_suites(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    page = browser_page
    await sign_in_as_facility(page, FACILITIES[0]["legal_name"])
    await page.get_by_role("link", name="Profile").click()
    await expect(page.get_by_role("heading", name=FACILITIES[0]["legal_name"])).to_be_visible()
    await expect(page.locator("section", has_text="GMP certificates")).to_contain_text("valid")

    await page.get_by_label("Contact email").fill("gmp-qa@charite.example.org")
    await page.get_by_role("button", name="Save the profile").click()
    await expect(page.get_by_role("status")).to_have_text("The profile is saved.")
    await expect(page.get_by_label("Contact email")).to_have_value("gmp-qa@charite.example.org")

    changed = await clean_hub["registry"].client.patch(
        f"/v1/facilities/{seeded.facilities[0]}", json={"city": "Berlin-Mitte"},
        headers=tokens.facility(seeded.facilities[0]) | {"If-Match": "*"},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    await page.get_by_label("Address").fill("Charitéplatz 1")
    await page.get_by_role("button", name="Save the profile").click()
    await expect(page.locator(".problem")).to_contain_text("Registry refused:")

    await page.get_by_label("Name", exact=True).fill("Suite 3 (AAV)")
    await page.get_by_label("Cleanroom grade").select_option("A")
    add = page.locator("form", has=page.get_by_role("heading", name="Add a suite"))
    await add.get_by_role("group", name="ATMP types").get_by_label("Gene therapy medicinal product").check()
    await add.get_by_role("group", name="Processes").locator("input[value='aav']").check()
    await add.get_by_label("A Qualified Person releases batches made here").check()
    await checked(page, "facility-profile")
    await add.get_by_role("button", name="Add the suite").click()
    await expect(page.get_by_role("status")).to_have_text("Suite Suite 3 (AAV) is added.")
    row = page.locator("tbody tr", has_text="Suite 3 (AAV)")
    await expect(row).to_contain_text("aav")

    await row.get_by_label("Reason for retiring Suite 3 (AAV)").fill("Converted to a QC laboratory")
    await row.get_by_role("button", name="Retire").click()
    await expect(page.get_by_role("status")).to_have_text("The suite is retired.")
    await expect(page.locator("tbody tr", has_text="Suite 3 (AAV)")).to_contain_text("retired")

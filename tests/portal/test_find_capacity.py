"""Journey 1, a developer finds capacity: signs in, filters by country, process, grade and dates,
sees the slots as a list and as a week calendar, each with facility, suite and certificate."""

from playwright.async_api import Page, expect

from tests.portal.browser import checked, fits_a_tablet
from tests.portal.journeys import sign_in_as_developer
from tests.portal.seeding import Seeded, next_monday


async def test_a_developer_finds_capacity_by_filters_as_a_list_and_a_calendar(browser_page: Page, seeded: Seeded):
    page = browser_page
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    await checked(page, "sign-in")
    await sign_in_as_developer(page)
    await expect(page.get_by_role("heading", name="Find manufacturing capacity")).to_be_visible()
    await expect(page.get_by_role("heading", name="6 slots found")).to_be_visible()

    await page.get_by_label("Country").select_option("DE")
    await expect(page.get_by_role("heading", name="3 slots found")).to_be_visible()
    await page.get_by_label("Process").select_option("car_t")
    await page.get_by_label("Cleanroom grade").select_option("B")
    await expect(page.get_by_role("heading", name="3 slots found")).to_be_visible()
    results = page.locator("#results tbody tr")
    await expect(results.first).to_contain_text("Charité GMP Unit for Cell Therapy (DE)")
    await expect(results.first).to_contain_text("Suite 2 (CAR-T)")
    await expect(results.first).to_contain_text("valid")
    assert "country=DE" in page.url, "the filters are in the address, to share or come back to"
    await checked(page, "find-capacity")
    await fits_a_tablet(page)

    until = (next_monday().date()).isoformat()
    await page.get_by_label("Until").fill(until)
    await page.get_by_label("Until").dispatch_event("change")
    await expect(page.get_by_role("heading", name="0 slots found")).to_be_visible()
    await expect(page.get_by_text("No open slot matches")).to_be_visible()
    await page.get_by_label("Until").fill("")
    await page.get_by_label("Until").dispatch_event("change")
    await page.get_by_label("Week calendar").check()
    await expect(page.locator("table caption").first).to_contain_text("Week of")
    await expect(page.locator(".calendar a.slot")).to_have_count(3)
    await checked(page, "find-capacity-calendar")

    await page.get_by_label("Country").select_option("NL")
    await page.get_by_label("Process").select_option("")
    await expect(page.locator(".calendar a.slot").first).to_contain_text("Leiden")

"""Journey 4, a developer waits: a search that finds nothing offers the waitlist with its
criteria; when the facility publishes a matching slot, the hold given to the first in line shows
on the waitlist page without a reload."""

from datetime import UTC, datetime, timedelta

from playwright.async_api import Page, expect

from tests.portal.browser import checked
from tests.portal.journeys import sign_in_as_developer
from tests.portal.seeding import Seeded
from tests.support import RunningService, Tokens


async def test_a_developer_joins_the_waitlist_from_an_empty_search_and_receives_the_offer(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    later = (datetime.now(UTC) + timedelta(days=200)).replace(hour=8, minute=0, second=0, microsecond=0)
    page = browser_page
    await sign_in_as_developer(page)
    await page.goto(f"/capacity?country=DE&starts_from={later.date().isoformat()}")
    await expect(page.get_by_role("heading", name="0 slots found")).to_be_visible()
    await page.get_by_label("Product").fill("CAR-T CD19 autologous")
    await page.get_by_role("button", name="Join the waitlist").click()
    await expect(page.get_by_role("heading", name="Waitlist", exact=True)).to_be_visible()
    row = page.locator("#waitlist tbody tr")
    await expect(row).to_contain_text("CAR-T CD19 autologous")
    await expect(row).to_contain_text("country: DE")
    await expect(row).to_contain_text("waiting")
    await checked(page, "waitlist")

    await page.evaluate("window.stillTheSamePage = true")
    facility_id = seeded.facilities[0]
    published = await clean_hub["scheduling"].client.post(
        f"/v1/facilities/{facility_id}/capacity",
        json={"suite_id": seeded.suites[0], "slots": [{"starts_at": (later + timedelta(days=7)).isoformat(),
              "ends_at": (later + timedelta(days=8)).isoformat()}]},
        headers=tokens.facility(facility_id),
    )  # fmt: skip
    assert published.status_code == 201 and published.json()["waitlist_holds"] == 1, published.text
    await expect(row).to_contain_text("offered")
    assert await page.evaluate("window.stillTheSamePage === true"), "no reload"
    await row.get_by_role("link", name="A slot is held for you: confirm it").click()
    await expect(page.locator(".state-line")).to_contain_text("held")
    await expect(page.get_by_role("button", name="Confirm the booking")).to_be_visible()

"""Journey 4, a developer waits: a search that finds nothing offers the waitlist with its
criteria; the entry shows its position in line, which moves up when a developer ahead leaves;
when the facility publishes a matching slot, the hold given to the first in line shows on the
waitlist page without a reload."""

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
    scheduling = clean_hub["scheduling"]
    # Another developer already waits for a slot in Germany from the same day: ahead of ORG-1 in line.
    ahead = await scheduling.client.post(
        "/v1/waitlist",
        json={
            "product": "TIL therapy",
            "run_kind": "development",
            "country": "DE",
            "earliest_start": f"{later.date().isoformat()}T00:00:00Z",
        },
        headers=tokens.developer("ORG-2", sub="dev-2"),
    )
    assert ahead.status_code == 201 and ahead.json()["position"] == 1, ahead.text
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
    await expect(row).to_contain_text("position 2 in line")
    await checked(page, "waitlist")

    # The developer ahead leaves: the page, polled, moves ORG-1 up to first in line.
    await page.evaluate("window.stillTheSamePage = true")
    left = await scheduling.client.post(
        f"/v1/waitlist/{ahead.json()['waitlist_entry_id']}/leave", headers=tokens.developer("ORG-2", sub="dev-2")
    )
    assert left.status_code == 200, left.text
    await expect(row).to_contain_text("position 1 in line")
    [mine] = (await scheduling.client.get("/v1/waitlist", headers=tokens.developer())).json()
    assert (mine["status"], mine["position"]) == ("waiting", 1)

    facility_id = seeded.facilities[0]
    published = await scheduling.client.post(
        f"/v1/facilities/{facility_id}/capacity",
        json={"suite_id": seeded.suites[0], "slots": [{"starts_at": (later + timedelta(days=7)).isoformat(),
              "ends_at": (later + timedelta(days=8)).isoformat()}]},
        headers=tokens.facility(facility_id),
    )  # fmt: skip
    assert published.status_code == 201 and published.json()["waitlist_holds"] == 1, published.text
    await expect(row).to_contain_text("offered")
    await expect(row).not_to_contain_text("in line")
    assert await page.evaluate("window.stillTheSamePage === true"), "no reload"
    await row.get_by_role("link", name="A slot is held for you: confirm it").click()
    await expect(page.locator(".state-line")).to_contain_text("held")
    await expect(page.get_by_role("button", name="Confirm the booking")).to_be_visible()
    [offered] = (await scheduling.client.get("/v1/waitlist", headers=tokens.developer())).json()
    assert (offered["status"], offered["position"]) == ("offered", None)

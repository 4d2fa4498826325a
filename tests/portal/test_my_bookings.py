"""Journey 3, a developer's bookings: their status, the at-risk banner with its reason (a
suspended certificate), the history timeline, cancelling, and the calendar feed's address."""

from playwright.async_api import Page, expect

from tests.portal.browser import checked, fits_a_tablet
from tests.portal.journeys import sign_in_as_developer
from tests.portal.seeding import Seeded
from tests.support import RunningService, Tokens, eventually


async def hold(scheduling: RunningService, tokens: Tokens, facility_id: str, product: str) -> str:
    slots = await scheduling.client.get("/v1/slots", params={"facility_id": facility_id}, headers=tokens.developer())
    body = {"slot_ids": [slots.json()["items"][0]["slot_id"]], "product": product, "run_kind": "development"}
    answer = await scheduling.client.post("/v1/bookings", json=body, headers=tokens.developer())
    assert answer.status_code == 201, answer.text
    return answer.json()["booking_id"]


async def booking(scheduling: RunningService, tokens: Tokens, booking_id: str) -> dict:
    return (await scheduling.client.get(f"/v1/bookings/{booking_id}", headers=tokens.developer())).json()


async def test_a_developer_sees_status_risk_and_history_cancels_and_subscribes(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    scheduling, registry = clean_hub["scheduling"], clean_hub["registry"]
    berlin = await hold(scheduling, tokens, seeded.facilities[0], "CAR-T CD19 autologous")
    await scheduling.client.post(f"/v1/bookings/{berlin}/confirm", headers=tokens.developer())
    leiden = await hold(scheduling, tokens, seeded.facilities[1], "AAV9 vector batch")

    async def confirmed() -> bool:
        return (await booking(scheduling, tokens, berlin))["status"] == "confirmed"

    await eventually(confirmed)
    suspended = await registry.client.post(
        f"/v1/certificates/{seeded.certificates[0]}/suspend",
        json={"reason": "Sterility failures at the inspection"},
        headers=tokens.regulator("DE-PEI"),
    )
    assert suspended.status_code == 200, suspended.text

    async def at_risk() -> bool:
        return (await booking(scheduling, tokens, berlin))["at_risk"]

    await eventually(at_risk)

    page = browser_page
    await sign_in_as_developer(page)
    await page.get_by_role("link", name="My bookings").click()
    banner = page.locator(".at-risk")
    await expect(banner).to_contain_text("1 booking at risk")
    await expect(banner).to_contain_text("CAR-T CD19 autologous")
    await expect(banner).to_contain_text("suspended")
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="CAR-T CD19 autologous")).to_contain_text("confirmed")
    await expect(rows.filter(has_text="CAR-T CD19 autologous")).to_contain_text("at risk")
    await expect(rows.filter(has_text="AAV9 vector batch")).to_contain_text("held")
    await expect(rows.filter(has_text="AAV9 vector batch")).to_contain_text("Leiden GMP Facility")
    await checked(page, "my-bookings")
    await fits_a_tablet(page)

    feed = await page.get_by_label("iCalendar feed address").input_value()
    await page.get_by_role("button", name="Copy the address").click()
    await expect(page.get_by_text("Copied.")).to_be_visible()
    calendar = await page.request.get(feed)
    assert calendar.ok and calendar.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in await calendar.text() and "CAR-T CD19 autologous" in await calendar.text()

    await page.get_by_role("link", name="CAR-T CD19 autologous", exact=True).click()
    await expect(page.locator("section.at-risk")).to_contain_text("suspended")
    timeline = page.locator(".timeline li")
    await expect(timeline.first).to_contain_text("held by developer:dev-1")
    await expect(page.locator(".timeline")).to_contain_text("materials reserved")
    await expect(page.locator(".timeline")).to_contain_text("at risk changed by service:scheduling")
    await checked(page, "booking-at-risk")

    await page.goto(f"/bookings/{leiden}")
    await page.evaluate("window.stillTheSamePage = true")
    await page.get_by_label("Reason for cancelling (optional)").fill("Vector lot not released in time")
    await page.get_by_role("button", name="Cancel the booking").click()
    await expect(page.locator(".state-line")).to_contain_text("Cancelled: Vector lot not released in time")
    await expect(page.get_by_role("button", name="Cancel the booking")).to_have_count(0)
    assert await page.evaluate("window.stillTheSamePage === true")
    await page.get_by_role("link", name="All bookings").click()
    await expect(page.locator("tbody tr").filter(has_text="AAV9 vector batch")).to_contain_text("cancelled")

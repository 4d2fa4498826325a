"""Journeys 8 and 9, a facility: publishes capacity (a window cut into slots and a weekly slot,
each previewed before it is published), blocks, reopens and withdraws slots; then works through
the bookings at the facility: sees which are at risk and why, completes a run that has started, is
told why a future one cannot be completed yet, cancels one with a reason."""

import asyncio
from datetime import UTC, datetime, timedelta

from playwright.async_api import Page, expect

from tests.portal.browser import checked, fits_a_tablet
from tests.portal.journeys import sign_in_as_facility
from tests.portal.seeding import FACILITIES, Seeded
from tests.support import RunningService, Tokens, eventually

BERLIN = FACILITIES[0]["legal_name"]


def local(moment: datetime) -> str:
    """How a datetime-local field takes a moment (the pages read it as UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M")


async def test_a_facility_previews_publishes_blocks_reopens_and_withdraws_slots(browser_page: Page, seeded: Seeded):
    page = browser_page
    await sign_in_as_facility(page, BERLIN)
    await page.get_by_role("link", name="Capacity").click()
    await expect(page.get_by_role("heading", name=f"Capacity of {BERLIN}")).to_be_visible()

    # A Monday, so the window's four days fall in one calendar week whatever day the test runs.
    later = (datetime.now(UTC) + timedelta(days=120)).replace(hour=8, minute=0, second=0, microsecond=0)
    first = later + timedelta(days=-later.weekday() % 7)
    window = page.locator("form", has=page.get_by_role("heading", name="A window cut into slots"))
    await window.get_by_label("Window starts").fill(local(first))
    await window.get_by_label("Window ends").fill(local(first + timedelta(days=4, hours=2)))
    await window.get_by_label("Slot length (hours)").fill("24")
    await window.get_by_role("button", name="Preview the window's slots").click()
    preview = page.locator("#preview")
    await expect(preview.get_by_role("heading", name="Preview: 4 slots")).to_be_visible()
    await expect(preview.locator("tbody tr")).to_have_count(4)
    await checked(page, "publish-capacity-preview", at="Preview: 4 slots")

    weekly = page.locator("form", has=page.get_by_role("heading", name="A slot every week"))
    monday = first + timedelta(days=7 - first.weekday() + 14)
    await weekly.get_by_label("First slot starts").fill(local(monday))
    await weekly.get_by_label("First slot ends").fill(local(monday + timedelta(hours=8)))
    await weekly.get_by_label("Last day").fill((monday + timedelta(days=13)).date().isoformat())
    await weekly.get_by_label("Monday").check()
    await weekly.get_by_label("Wednesday").check()
    await weekly.get_by_role("button", name="Preview the weekly slots").click()
    await expect(preview.get_by_role("heading", name="Preview: 4 slots")).to_be_visible()
    await expect(preview.locator("tbody tr").first).to_contain_text(monday.strftime("%a %d %b %Y 08:00"))

    await window.get_by_role("button", name="Preview the window's slots").click()
    await preview.get_by_role("button", name="Publish these 4 slots").click()
    await expect(preview).to_contain_text("Published 4 slots.")
    slots = page.locator("#slots tbody tr")
    await expect(slots).to_have_count(3 + 4)  # the seeded weeks and the new ones, refreshed without a reload

    days = [(first + timedelta(days=i)).strftime("%a %d %b %Y %H:%M") for i in range(4)]
    table = page.locator("#slots")
    await table.get_by_role("button", name="Block").click()
    await expect(table.get_by_role("alert")).to_contain_text("Choose at least one slot first.")
    await table.get_by_label(f"Choose the slot of {days[0]}").check()
    await table.get_by_label(f"Choose the slot of {days[1]}").check()
    await table.get_by_label("Reason (shown with blocked slots)").fill("Cleanroom requalification")
    await table.get_by_role("button", name="Block").click()
    await expect(table.get_by_role("status")).to_have_text("Blocked 2 slots.")
    blocked = slots.filter(has_text="blocked")
    await expect(blocked).to_have_count(2)
    await expect(blocked.first).to_contain_text("Cleanroom requalification")
    await checked(page, "publish-capacity-slots", at="Your coming slots")
    await fits_a_tablet(page)

    await table.get_by_label(f"Choose the slot of {days[0]}").check()
    await table.get_by_role("button", name="Reopen").click()
    await expect(table.get_by_role("status")).to_have_text("Reopened 1 slot.")
    await expect(slots.filter(has_text="blocked")).to_have_count(1)
    await table.get_by_label(f"Choose the slot of {days[3]}").check()
    await table.get_by_role("button", name="Withdraw").click()
    await expect(table.get_by_role("status")).to_have_text("Withdrew 1 slot.")
    await expect(slots.filter(has=page.get_by_label(f"Choose the slot of {days[3]}"))).to_contain_text("withdrawn")

    await page.get_by_role("link", name="Week calendar").click()
    week = page.locator("figure.calendar", has_text=f"Week of {first.strftime('%d %b %Y')}")
    await expect(week.locator("label.slot")).to_have_count(4)
    await week.get_by_label(f"Choose the slot of {days[2]}").check()
    await table.get_by_role("button", name="Block").click()
    await expect(table.get_by_role("status")).to_have_text("Blocked 1 slot.")
    await expect(week.locator("label.slot", has_text="blocked")).to_have_count(2)
    await checked(page, "publish-capacity-calendar", at="Your coming slots")


async def confirmed_booking(scheduling: RunningService, tokens: Tokens, slot_id: str, product: str) -> str:
    body = {"slot_ids": [slot_id], "product": product, "run_kind": "development"}
    held = await scheduling.client.post("/v1/bookings", json=body, headers=tokens.developer())
    assert held.status_code == 201, held.text
    booking_id = held.json()["booking_id"]
    await scheduling.client.post(f"/v1/bookings/{booking_id}/confirm", headers=tokens.developer())

    async def confirmed() -> bool:
        answer = await scheduling.client.get(f"/v1/bookings/{booking_id}", headers=tokens.developer())
        return answer.json()["status"] == "confirmed"

    await eventually(confirmed)
    return booking_id


async def test_a_facility_completes_a_started_run_and_cancels_a_booking_with_a_reason(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    scheduling, facility_id = clean_hub["scheduling"], seeded.facilities[0]
    facility = tokens.facility(facility_id)
    starts = datetime.now(UTC) + timedelta(seconds=2)
    soon = await scheduling.client.post(
        f"/v1/facilities/{facility_id}/capacity",
        json={"suite_id": seeded.suites[0], "slots": [{"starts_at": starts.isoformat(),
              "ends_at": (starts + timedelta(hours=1)).isoformat()}]},
        headers=facility,
    )  # fmt: skip
    assert soon.status_code == 201, soon.text
    await confirmed_booking(scheduling, tokens, soon.json()["slots"][0]["slot_id"], "CAR-T CD19 run today")
    later = await scheduling.client.get("/v1/slots", params={"facility_id": facility_id}, headers=tokens.developer())
    next_week = await confirmed_booking(scheduling, tokens, later.json()["items"][0]["slot_id"], "CAR-T CD19 next week")
    suspended = await clean_hub["registry"].client.post(
        f"/v1/certificates/{seeded.certificates[0]}/suspend",
        json={"reason": "Media fill failed"},
        headers=tokens.regulator("DE-PEI"),
    )
    assert suspended.status_code == 200, suspended.text

    async def flagged() -> bool:
        answer = await scheduling.client.get(f"/v1/bookings/{next_week}", headers=tokens.developer())
        return answer.json()["at_risk"]

    await eventually(flagged)
    await asyncio.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()))

    page = browser_page
    await sign_in_as_facility(page, BERLIN)
    await expect(page.get_by_role("heading", name=f"Bookings at {BERLIN}")).to_be_visible()
    rows = page.locator("#facility-bookings tbody tr")
    await expect(rows).to_have_count(2)
    await expect(page.locator("#facility-bookings .at-risk")).to_contain_text("Media fill failed")
    await expect(rows.filter(has_text="CAR-T CD19 next week")).to_contain_text("at risk")
    await checked(page, "facility-bookings")
    await fits_a_tablet(page)

    today, next_week = rows.filter(has_text="CAR-T CD19 run today"), rows.filter(has_text="CAR-T CD19 next week")
    await next_week.get_by_role("button", name="Complete").click()
    await expect(page.locator("#facility-bookings .problem")).to_contain_text("Scheduling refused:")
    await expect(page.locator("#facility-bookings .problem")).to_contain_text("completed once it has started")
    await today.get_by_role("button", name="Complete").click()
    await expect(page.get_by_role("status")).to_have_text("The run is recorded as completed.")
    await expect(today).to_contain_text("completed")

    await next_week.get_by_label("Reason for cancelling CAR-T CD19 next week").fill("Suite requalification overruns")
    await next_week.get_by_role("button", name="Cancel").click()
    await expect(page.get_by_role("status")).to_have_text("The booking is cancelled.")
    await expect(next_week).to_contain_text("cancelled")
    await checked(page, "facility-bookings-after")
    await page.get_by_role("link", name="Week calendar").click()
    await expect(page.locator("figure.calendar a.slot")).to_have_count(2)
    await expect(page.locator("figure.calendar a.slot", has_text="CAR-T CD19 run today")).to_contain_text("completed")

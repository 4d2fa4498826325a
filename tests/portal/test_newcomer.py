"""Issue 12's newcomer check: from the portal's root address to a confirmed booking, with the
seeded demo data, by the pages alone: only the root is typed in, every other step is a visible
link, button or labelled field, and nothing is read from the APIs on the way. Timed: the path
must exist and be short (a generous bound, well under the two minutes the issue allows)."""

import time

from playwright.async_api import Page, expect

from tests.portal.seeding import Seeded
from tests.support import RunningService, Tokens

PRODUCT = "CAR-T CD19 autologous, first patient"


async def test_a_newcomer_goes_from_the_root_address_to_a_confirmed_booking_by_the_pages_alone(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    page = browser_page
    started = time.monotonic()

    # The only address typed in: the portal's root, which asks a stranger to sign in.
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()

    # Development sign-in: the seeded developer's organisation, as the page suggests.
    await page.get_by_label("Organisation").fill("ORG-1")
    await page.get_by_role("button", name="Sign in as developer").click()
    await expect(page.get_by_text("Signed in as developer ORG-1")).to_be_visible()

    # A developer starts at finding capacity; the menu leads there too.
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Find capacity").click()
    await expect(page.get_by_role("heading", name="Find manufacturing capacity")).to_be_visible()
    await page.get_by_label("Country").select_option(label="DE")  # the list names countries by their code
    await page.get_by_role("button", name="Search").click()
    results = page.locator("#results")
    await expect(results.get_by_role("heading", name="slots found")).to_be_visible()
    first = results.get_by_role("row").filter(has_text="Charité").first
    await expect(first).to_contain_text("valid")

    # Book the first slot: name the run and the one material it needs.
    await first.get_by_role("link", name="Book").click()
    await expect(page.get_by_role("heading", name="Book a manufacturing run")).to_be_visible()
    await page.get_by_label("Product").fill(PRODUCT)
    await page.get_by_label("Run kind").select_option(label="Development")
    await page.get_by_label("Add a material: search the catalogue").fill("TexMACS")
    await page.get_by_role("button", name="Add TexMACS GMP Medium").click()
    await page.get_by_label("Quantity of TexMACS GMP Medium").fill("400")
    await page.get_by_role("button", name="Hold these slots").click()

    # The hold, then confirming it: the status turns confirmed once materials are reserved.
    await expect(page.get_by_role("heading", name=PRODUCT)).to_be_visible()
    await expect(page.locator(".state-line")).to_contain_text("held")
    await page.get_by_role("button", name="Confirm the booking").click()
    await expect(page.locator(".state-line")).to_contain_text("Confirmed: the slots and the materials are reserved")

    # And it is among the developer's bookings.
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="My bookings").click()
    await expect(page.get_by_role("row").filter(has_text=PRODUCT)).to_contain_text("confirmed")

    seconds = time.monotonic() - started
    print(f"newcomer journey: {seconds:.1f} s")
    assert seconds < 120, f"the newcomer's journey took {seconds:.1f} s"

    # What scheduling now holds: the one booking, confirmed, for the seeded developer.
    bookings = await clean_hub["scheduling"].client.get("/v1/bookings", headers=tokens.developer())
    assert [(b["product"], b["status"]) for b in bookings.json()] == [(PRODUCT, "confirmed")]

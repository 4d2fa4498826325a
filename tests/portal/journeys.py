"""Steps the journeys share: signing in through the development page."""

from playwright.async_api import Page, expect


async def sign_in_as_developer(page: Page, org: str = "ORG-1") -> None:
    await page.goto("/sign-in")
    await page.get_by_label("Organisation").fill(org)
    await page.get_by_role("button", name="Sign in as developer").click()
    await expect(page.get_by_text(f"Signed in as developer {org}")).to_be_visible()


async def sign_in_as_facility(page: Page, legal_name: str) -> None:
    await page.goto("/sign-in")
    await page.get_by_label("Facility", exact=True).select_option(label=next_label(legal_name))
    await page.get_by_role("button", name="Sign in as facility").click()
    await expect(page.get_by_text(f"Signed in as facility {legal_name}")).to_be_visible()


def next_label(legal_name: str) -> str:
    cities = {
        "Charité GMP Unit for Cell Therapy": "Berlin, DE",
        "Leiden GMP Facility for Cell and Gene Therapy": "Leiden, NL",
    }
    return f"{legal_name} ({cities[legal_name]})"


async def sign_in_as_regulator(page: Page, authority: str = "DE-PEI") -> None:
    await page.goto("/sign-in")
    await page.get_by_label("Competent authority").select_option(authority)
    await page.get_by_role("button", name="Sign in as regulator").click()
    await expect(page.get_by_text(f"Signed in as regulator {authority}")).to_be_visible()


async def sign_in_as_admin(page: Page) -> None:
    await page.goto("/sign-in")
    await page.get_by_role("button", name="Sign in as admin").click()
    await expect(page.get_by_text("Signed in as admin")).to_be_visible()

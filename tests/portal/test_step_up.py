"""Signing needs a fresh sign-in: a regulator who signed in too long ago is told so plainly where
they signed, nothing changes, and "Sign in again" (development: the token minted anew) brings them
back to the page, where the signature then goes through."""

import time

import pytest
from playwright.async_api import Page, expect

from services.portal import signin
from shared.auth import issue_token
from tests.portal.browser import checked
from tests.portal.journeys import sign_in_as_regulator
from tests.portal.seeding import Seeded
from tests.support import RunningService, Tokens


@pytest.fixture
def stale_sign_in(monkeypatch: pytest.MonkeyPatch):
    """The development sign-in as if it happened ten minutes ago; undone by calling what it returns."""
    monkeypatch.setattr(signin, "issue_token", lambda *a, **kw: issue_token(*a, **kw, auth_time=int(time.time()) - 600))
    return monkeypatch.undo


async def test_a_stale_sign_in_is_asked_to_sign_in_again_and_then_signs(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens, stale_sign_in
):
    registry, berlin, certificate_id = clean_hub["registry"], seeded.facilities[0], seeded.certificates[0]
    page = browser_page
    await sign_in_as_regulator(page)
    stale_sign_in()  # from here on, sign-ins are fresh
    await page.goto(f"/certificates/facilities/{berlin}")
    card = page.locator("article", has=page.get_by_role("button", name="Suspend (sign)"))
    await card.get_by_label("Reason").fill("Sterility failures at the inspection")
    await card.get_by_role("button", name="Suspend (sign)").click()

    alert = card.get_by_role("alert")
    await expect(alert).to_contain_text("Signing needs a fresh sign-in.")
    await expect(alert).to_contain_text("nothing was signed or changed")
    read = await registry.client.get(f"/v1/certificates/{certificate_id}", headers=tokens.developer())
    assert read.json()["status"] == "valid" and [s["action"] for s in read.json()["signatures"]] == ["issued"]
    await checked(page, "regulator-sign-in-again")

    await alert.get_by_role("link", name="Sign in again").click()
    await expect(page).to_have_url(f"{page.url.split('/certificates')[0]}/certificates/facilities/{berlin}")
    card = page.locator("article", has=page.get_by_role("button", name="Suspend (sign)"))
    await card.get_by_label("Reason").fill("Sterility failures at the inspection")
    await card.get_by_role("button", name="Suspend (sign)").click()
    await expect(page.locator("tbody tr .badge").first).to_have_text("suspended")
    read = await registry.client.get(f"/v1/certificates/{certificate_id}", headers=tokens.developer())
    assert read.json()["status"] == "suspended"
    assert [(s["action"], s["reason"]) for s in read.json()["signatures"]][-1] == (
        "suspended", "Sterility failures at the inspection",
    )  # fmt: skip

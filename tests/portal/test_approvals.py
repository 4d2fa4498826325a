"""Journey 6, a developer's approvals: drafts a child of the approved platform, sees it in the
tree under its parent, submits it, and follows its status as the regulator starts the review."""

from playwright.async_api import Page, expect

from tests.portal.browser import checked
from tests.portal.journeys import sign_in_as_developer
from tests.portal.seeding import Seeded
from tests.support import RunningService, Tokens


async def test_a_developer_drafts_a_child_submits_it_and_follows_it_in_the_tree(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    page = browser_page
    await sign_in_as_developer(page)
    await page.get_by_role("link", name="Approvals").click()
    await expect(page.locator("tbody tr", has_text="CD19 CAR-T manufacturing platform")).to_contain_text("approved")

    await page.get_by_label("Child, building on a parent").check()
    await page.get_by_label("Title").fill("CD19 CAR-T for relapsed DLBCL")
    await page.get_by_label("Covers").select_option("product")
    await page.get_by_label("Competent authority").select_option("DE-PEI")
    await page.get_by_label("Parent (for a child)").select_option(label="CD19 CAR-T manufacturing platform (approved)")
    await page.get_by_label("Charité GMP Unit for Cell Therapy (DE)").check()
    await page.get_by_role("button", name="Save the draft").click()

    await expect(page.get_by_role("heading", name="CD19 CAR-T for relapsed DLBCL")).to_be_visible()
    tree = page.locator("ul.tree")
    await expect(tree.locator("> li > a")).to_have_text("CD19 CAR-T manufacturing platform")
    await expect(tree.locator("li li strong")).to_have_text("CD19 CAR-T for relapsed DLBCL")
    await expect(page.get_by_role("status")).to_contain_text("draft")
    await page.get_by_role("button", name="Submit to DE-PEI").click()
    await expect(page.get_by_role("status")).to_contain_text("submitted")
    await checked(page, "approval-tree")

    approval_id = page.url.rsplit("/", 1)[-1]
    review = await clean_hub["approvals"].client.post(
        f"/v1/approvals/{approval_id}/review", json={}, headers=tokens.regulator("DE-PEI")
    )
    assert review.status_code == 200, review.text
    await expect(page.get_by_role("status")).to_contain_text("under review")
    await expect(page.locator(".timeline")).to_contain_text("review started")

"""Journeys 1–3 of the regulators: the work queue of their authority, an approval's tree and what
a child inherits, a signed decision, and a suspension previewed (descendants and the bookings relying
on them) before it cascades."""

from uuid import UUID

from playwright.async_api import Page, expect

from tests.portal.browser import checked
from tests.portal.journeys import sign_in_as_regulator
from tests.portal.seeding import Seeded, created
from tests.support import RunningService, Tokens, eventually


async def filed(approvals: RunningService, tokens: Tokens, body: dict, review: bool = False) -> str:
    """An approval of ORG-1 filed with its authority (and taken under review)."""
    approval_id = (await created(approvals, "/v1/approvals", body, tokens.developer()))["approval_id"]
    await created(approvals, f"/v1/approvals/{approval_id}/submit", {}, tokens.developer(), expect=200)
    if review:
        await created(approvals, f"/v1/approvals/{approval_id}/review", {}, tokens.regulator(body["authority"]),
                      expect=200)  # fmt: skip
    return approval_id


async def queue(approvals: RunningService, tokens: Tokens, seeded: Seeded) -> dict[str, str]:
    """Filed with DE-PEI: a child of the approved CD19 platform, the AAV9 platform under review and a
    child relying on its viral safety; filed with NL-IGJ: a platform DE-PEI does not see."""
    ids = {
        "CD19 child": await filed(approvals, tokens, {"level": "child", "covers": "product", "authority": "DE-PEI",
                                  "title": "CD19 CAR-T for relapsed DLBCL", "parent_id": seeded.approval}),
        "AAV9 platform": await filed(approvals, tokens, {"level": "parent", "covers": "platform",
                                     "title": "AAV9 capsid platform", "authority": "DE-PEI"}, review=True),
    }  # fmt: skip
    ids["AAV9 child"] = await filed(approvals, tokens, {
        "level": "child", "covers": "product", "title": "AAV9 gene therapy for SMA", "authority": "DE-PEI",
        "parent_id": ids["AAV9 platform"], "relied_on_parts": ["viral_safety"]})  # fmt: skip
    await filed(approvals, tokens, {"level": "parent", "covers": "platform", "title": "Lentiviral vector platform",
                                    "authority": "NL-IGJ"})  # fmt: skip
    return ids


async def test_a_regulator_sees_the_queue_of_their_authority_and_an_approvals_tree(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    await queue(clean_hub["approvals"], tokens, seeded)
    page = browser_page
    await sign_in_as_regulator(page)
    await expect(page.get_by_role("heading", name="Work queue")).to_be_visible()
    submitted = page.locator("section", has=page.get_by_role("heading", name="Submitted"))
    await expect(submitted.locator("tbody tr")).to_have_count(2)
    await expect(submitted.locator("tbody tr").first).to_contain_text("CD19 CAR-T for relapsed DLBCL")  # oldest first
    under_review = page.locator("section", has=page.get_by_role("heading", name="Under review"))
    await expect(under_review.locator("tbody tr")).to_contain_text("AAV9 capsid platform")
    await expect(page.get_by_text("Lentiviral vector platform")).to_have_count(0)  # filed with NL-IGJ
    await checked(page, "regulator-queue")

    await submitted.get_by_role("link", name="AAV9 gene therapy for SMA").click()
    tree = page.locator("ul.tree")
    await expect(tree.locator("> li > a")).to_have_text("AAV9 capsid platform")
    await expect(tree.locator("> li")).to_contain_text("under review")
    await expect(tree.locator("li li strong")).to_have_text("AAV9 gene therapy for SMA")
    inherits = page.locator("section", has=page.get_by_role("heading", name="What it inherits"))
    await expect(inherits).to_contain_text(
        "builds on a parent that is under review, and waits for the parent's decision"
    )
    await expect(inherits).to_contain_text("Left to assess: viral_safety")
    await checked(page, "regulator-approval")


async def test_a_regulator_approves_a_platform_a_child_then_inherits_and_rejects_another_child(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    ids = await queue(clean_hub["approvals"], tokens, seeded)
    page = browser_page
    await sign_in_as_regulator(page)
    await page.goto(f"/review/{ids['AAV9 platform']}")
    await page.get_by_label("Approve").check()
    await page.get_by_label("Meaning of the signature").fill("Approved by DE-PEI")
    await page.get_by_label("Reason").fill("Viral clearance validated on three runs")
    await page.get_by_label("Assessment, when approving").fill("viral_safety: acceptable")
    await checked(page, "regulator-decide", at="Decide")
    await page.get_by_role("button", name="Sign the decision").click()

    await expect(page.get_by_role("status")).to_contain_text("approved")
    record = page.locator("section", has=page.get_by_role("heading", name="Signed records")).locator("tbody tr")
    await expect(record).to_have_count(1)
    await expect(record).to_contain_text("regulator:portal-regulator (DE-PEI)")
    await expect(record).to_contain_text("Approved by DE-PEI")
    await expect(record).to_contain_text("Viral clearance validated on three runs")
    await expect(page.get_by_role("heading", name="Decide")).to_have_count(0)
    await checked(page, "regulator-decided", at="Signed records")

    await page.locator("ul.tree").get_by_role("link", name="AAV9 gene therapy for SMA").click()
    inherits = page.locator("section", has=page.get_by_role("heading", name="What it inherits"))
    await expect(inherits.locator("tbody td")).to_have_text(["viral_safety", "acceptable"])
    await expect(inherits).to_contain_text("Left to assess: none of the parts it relies on")

    await page.goto(f"/review/{ids['CD19 child']}")
    await page.get_by_role("button", name="Take it under review").click()
    await expect(page.get_by_role("status")).to_contain_text("under review")
    await page.get_by_label("Reject").check()
    await page.get_by_label("Reason").fill("The comparability data are missing")
    await page.get_by_role("button", name="Sign the decision").click()
    await expect(page.get_by_role("status")).to_contain_text("rejected")
    record = page.locator("section", has=page.get_by_role("heading", name="Signed records")).locator("tbody tr")
    await expect(record).to_contain_text("The comparability data are missing")


async def clinical_hold(scheduling: RunningService, tokens: Tokens, facility_id: str, approval_id: str) -> str:
    """ORG-1 holds the facility's first slot for a clinical run under the approval, once scheduling
    has heard it approved."""

    async def approved() -> bool:
        rows = await scheduling.sql("SELECT status FROM approval_view WHERE approval_id = :a", a=UUID(approval_id))
        return bool(rows) and rows[0].status == "approved"

    await eventually(approved, timeout=10)
    slots = await scheduling.client.get("/v1/slots", params={"facility_id": facility_id}, headers=tokens.developer())
    body = {"slot_ids": [slots.json()["items"][0]["slot_id"]], "product": "CD19 CAR-T lot 7", "run_kind": "clinical",
            "approval_id": approval_id}  # fmt: skip
    answer = await scheduling.client.post("/v1/bookings", json=body, headers=tokens.developer())
    assert answer.status_code == 201, answer.text
    return str(answer.json()["booking_id"])


async def test_a_regulator_previews_a_suspension_cascade_suspends_and_reinstates(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    approvals, regulator = clean_hub["approvals"], tokens.regulator("DE-PEI")
    child = await filed(approvals, tokens, {"level": "child", "covers": "product", "authority": "DE-PEI",
                                            "title": "CD19 CAR-T for relapsed DLBCL", "parent_id": seeded.approval,
                                            "facility_ids": [seeded.facilities[0]]},
                        review=True)  # fmt: skip
    await created(approvals, f"/v1/approvals/{child}/decision",
                  {"outcome": "approved", "meaning": "Approved by DE-PEI", "reason": "Comparable to the platform"},
                  regulator, expect=200)  # fmt: skip
    await filed(approvals, tokens, {"level": "child", "covers": "indication", "authority": "DE-PEI",
                                    "title": "CD19 CAR-T for paediatric ALL", "parent_id": seeded.approval})  # fmt: skip
    page = browser_page
    await sign_in_as_regulator(page)
    await page.goto(f"/review/{seeded.approval}")
    await page.get_by_role("button", name="Suspend…").click()

    await expect(page.get_by_role("heading", name="Suspend CD19 CAR-T manufacturing platform")).to_be_visible()
    await expect(page.locator("ul.reached li")).to_have_count(1)
    await expect(page.locator("ul.reached li")).to_contain_text("CD19 CAR-T for relapsed DLBCL")
    await expect(
        page.get_by_text("Unchanged (not approved): CD19 CAR-T for paediatric ALL (submitted)")
    ).to_be_visible()
    relying = page.locator("section", has=page.get_by_role("heading", name="Bookings relying on them"))
    await expect(relying).to_contain_text(
        "None: no live booking relies on this approval or the descendants it reaches."
    )

    # A developer holds a clinical run under the child: the preview now names it.
    await clinical_hold(clean_hub["scheduling"], tokens, seeded.facilities[0], child)
    await page.reload()
    await expect(relying.locator("p.warning")).to_contain_text("1 live booking")
    rows = relying.locator("table.relying tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("CD19 CAR-T for relapsed DLBCL")
    await expect(rows).to_contain_text("ORG-1")
    await expect(rows).to_contain_text("Charité GMP Unit for Cell Therapy")
    await expect(rows).to_contain_text("clinical")
    await expect(rows).to_contain_text("held")
    await page.get_by_label("Reason").fill("Sterility failures at the manufacturing site")
    await checked(page, "regulator-suspension-preview")
    await page.get_by_role("button", name="Suspend (sign)").click()

    await expect(page.get_by_role("status")).to_contain_text("suspended")
    tree = page.locator("ul.tree")
    await expect(tree.locator("li li", has_text="CD19 CAR-T for relapsed DLBCL")).to_contain_text("suspended by parent")
    await expect(tree.locator("li li", has_text="CD19 CAR-T for paediatric ALL")).to_contain_text("submitted")
    await checked(page, "regulator-suspended", at="Parent–child tree")
    # Reinstating likewise: the child its suspension reached comes back, and the booking is named.
    await expect(page.locator("ul.restored li")).to_have_count(1)
    await expect(page.locator("ul.restored li")).to_contain_text("CD19 CAR-T for relapsed DLBCL")
    await expect(relying.locator("table.relying tbody tr")).to_have_count(1)
    await expect(relying.locator("table.relying tbody tr")).to_contain_text("CD19 CAR-T for relapsed DLBCL")

    await page.get_by_label("Reason").fill("Corrective actions verified on site")
    await page.get_by_role("button", name="Reinstate (sign)").click()
    await expect(page.get_by_role("status")).to_contain_text("approved")
    await expect(tree.locator("li li", has_text="CD19 CAR-T for relapsed DLBCL")).to_contain_text("approved")
    records = page.locator("section", has=page.get_by_role("heading", name="Signed records")).locator("tbody tr")
    await expect(records).to_have_count(3)


async def test_a_child_whose_parent_was_withdrawn_waits_in_the_queue_until_re_confirmed(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    approvals = clean_hub["approvals"]
    child = await filed(approvals, tokens, {"level": "child", "covers": "product", "authority": "DE-PEI",
                                            "title": "CD19 CAR-T for relapsed DLBCL", "parent_id": seeded.approval},
                        review=True)  # fmt: skip
    await created(approvals, f"/v1/approvals/{child}/decision",
                  {"outcome": "approved", "meaning": "Approved by DE-PEI", "reason": "Comparable to the platform"},
                  tokens.regulator("DE-PEI"), expect=200)  # fmt: skip
    await created(approvals, f"/v1/approvals/{seeded.approval}/withdraw", {"reason": "Platform replaced"},
                  tokens.developer(), expect=200)  # fmt: skip
    page = browser_page
    await sign_in_as_regulator(page)
    waiting = page.locator("section", has=page.get_by_role("heading", name="Awaiting reconfirmation"))
    await waiting.get_by_role("link", name="CD19 CAR-T for relapsed DLBCL").click()

    await expect(page.get_by_role("status")).to_contain_text("approved awaiting reconfirmation")
    await expect(page.locator("ul.tree > li")).to_contain_text("withdrawn")
    await page.get_by_label("Reason").fill("The product stands on its own data")
    await page.get_by_role("button", name="Re-confirm (sign)").click()
    await expect(page.get_by_role("status")).not_to_contain_text("awaiting reconfirmation")
    records = page.locator("section", has=page.get_by_role("heading", name="Signed records")).locator("tbody tr")
    await expect(records.last).to_contain_text("Re-confirmed by DE-PEI")
    await page.get_by_role("link", name="Work queue").first.click()
    await expect(waiting).to_contain_text("Nothing waiting.")

"""Journeys 5 and 10. A developer searches the catalogue (a synonym, a typo, filters) with its
quality attributes, and sees a material's shortage with the alternatives and where they are
stocked. A facility keeps its inventory: records a lot (one expiring soon is marked), corrects a
count with a reason, sees what is reserved for which booking, declares a shortage."""

from datetime import date, timedelta

from playwright.async_api import Page, expect

from tests.portal.browser import checked, fits_a_tablet
from tests.portal.journeys import sign_in_as_developer, sign_in_as_facility
from tests.portal.seeding import FACILITIES, Seeded
from tests.support import RunningService, Tokens, eventually


async def test_a_developer_searches_the_catalogue_and_sees_a_shortage_with_stocked_alternatives(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    materials = clean_hub["materials"]
    texmacs = seeded.materials["TexMACS GMP Medium"]
    declared = await materials.client.post(
        "/v1/shortages",
        json={"material_id": texmacs, "severity": "high", "regions": ["DE"], "reason": "Supplier recall"},
        headers=tokens.regulator("DE-PEI"),
    )
    assert declared.status_code == 201, declared.text

    page = browser_page
    await sign_in_as_developer(page)
    await page.get_by_role("link", name="Materials").click()
    await expect(page.get_by_role("heading", name="3 materials")).to_be_visible()
    await page.get_by_label("Search").fill("interleukin")
    await expect(page.get_by_role("heading", name="1 material", exact=True)).to_be_visible()
    await expect(page.locator("#material-results tbody tr")).to_contain_text("MACS GMP Recombinant Human IL-2")
    await page.get_by_label("Search").fill("texmcs")
    row = page.locator("#material-results tbody tr").first
    await expect(row).to_contain_text("TexMACS GMP Medium")
    await expect(row).to_contain_text("shortage, high")
    await page.get_by_label("Search").fill("")
    await page.get_by_label("Category").select_option("cytokine_growth_factor")
    await expect(page.get_by_role("heading", name="1 material", exact=True)).to_be_visible()
    await page.get_by_label("Category").select_option("")
    await expect(page.get_by_role("heading", name="3 materials")).to_be_visible()
    await checked(page, "materials")

    await page.get_by_role("link", name="TexMACS GMP Medium").click()
    await expect(page.get_by_role("heading", name="Shortage: high")).to_be_visible()
    shortage = page.locator("section.at-risk")
    await expect(shortage).to_contain_text("Supplier recall")
    await expect(shortage).to_contain_text("CellGenix GMP SCGM")
    await expect(shortage).to_contain_text(f"{FACILITIES[0]['legal_name']} has 5000")
    expiry = date.today() + timedelta(days=400)  # the demo's lots: 5000 mL of each material at each facility
    for material in ("TexMACS GMP Medium", "CellGenix GMP SCGM"):  # the material, then its alternative
        stocked = page.get_by_role("list", name=f"Where {material} is stocked", exact=True).get_by_role("listitem")
        await expect(stocked).to_have_count(2)
        assert sorted(await stocked.all_inner_texts()) == [  # as much at each: in either order
            f"{f['legal_name']}: 5000 mL available, earliest expiry {expiry}" for f in FACILITIES
        ]
    await checked(page, "material-shortage")


async def test_a_facility_records_a_lot_corrects_a_count_sees_reservations_and_declares_a_shortage(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    scheduling, facility_id = clean_hub["scheduling"], seeded.facilities[0]
    il2 = seeded.materials["MACS GMP Recombinant Human IL-2"]
    slots = await scheduling.client.get("/v1/slots", params={"facility_id": facility_id}, headers=tokens.developer())
    body = {"slot_ids": [slots.json()["items"][0]["slot_id"]], "product": "CAR-T CD19", "run_kind": "development",
            "material_needs": [{"material_id": il2, "quantity": "250", "unit": "mL"}]}  # fmt: skip
    held = (await scheduling.client.post("/v1/bookings", json=body, headers=tokens.developer())).json()
    await scheduling.client.post(f"/v1/bookings/{held['booking_id']}/confirm", headers=tokens.developer())

    async def confirmed() -> bool:
        answer = await scheduling.client.get(f"/v1/bookings/{held['booking_id']}", headers=tokens.developer())
        return answer.json()["status"] == "confirmed"

    await eventually(confirmed)

    page = browser_page
    await sign_in_as_facility(page, FACILITIES[0]["legal_name"])
    await page.get_by_role("link", name="Inventory").click()
    reserved = page.locator("section", has=page.get_by_role("heading", name="Reserved for bookings"))
    await expect(reserved).to_contain_text("250 mL of MACS GMP Recombinant Human IL-2 from lot DEMO-")

    record = page.locator("form", has=page.get_by_role("heading", name="Record a lot"))
    await record.get_by_label("Material").select_option(label="CellGenix GMP SCGM")
    await record.get_by_label("Lot number").fill("L2026-0413")
    await record.get_by_label("Expires on").fill((date.today() + timedelta(days=20)).isoformat())
    await record.get_by_label("Quantity").fill("12")
    await record.get_by_label("Unit").select_option("each")
    await record.get_by_role("button", name="Record the lot").click()
    await expect(page.locator("#inventory").get_by_role("status").first).to_have_text("Lot L2026-0413 recorded.")
    new_lot = page.locator("#inventory tbody tr", has_text="L2026-0413")
    await expect(new_lot).to_contain_text("expires in 20 days")
    await expect(page.locator(".warning")).to_contain_text("1 lot expires within 60 days")
    await checked(page, "inventory")
    await fits_a_tablet(page)

    await new_lot.get_by_label("Count of lot L2026-0413").fill("10")
    await new_lot.get_by_label("Reason for lot L2026-0413").fill("Two vials broken at receipt")
    await new_lot.get_by_role("button", name="Correct").click()
    await expect(page.locator("#inventory").get_by_role("status").first).to_have_text("The count is corrected.")
    await expect(page.locator("#inventory tbody tr", has_text="L2026-0413")).to_contain_text("10 each")

    il2_lot = page.locator("#inventory tbody tr", has_text="MACS GMP Recombinant Human IL-2")
    await il2_lot.get_by_label("Count of lot").fill("100")
    await il2_lot.get_by_label("Reason for lot").fill("Stock-take")
    await il2_lot.get_by_role("button", name="Correct").click()
    await expect(page.locator("#inventory .problem")).to_contain_text("Materials refused:")

    shortage = page.locator("form", has=page.get_by_role("heading", name="Declare a shortage"))
    await shortage.get_by_label("Material").select_option(label="TexMACS GMP Medium")
    await shortage.get_by_label("Severity").select_option("medium")
    await shortage.get_by_label("Regions (country codes)").fill("DE, AT")
    await shortage.get_by_label("Reason").fill("Supplier allocation cut")
    await shortage.get_by_role("button", name="Declare the shortage").click()
    await expect(page.locator("#inventory").get_by_role("status").first).to_contain_text("The shortage is declared")

"""Journey 8, the operator's catalogue: a supplier and a material registered, an alternative named
(a material named as its own is refused with the reason and changes nothing), which the materials
API then lists; a CSV imported with the upload's progress, then how many rows were imported and a
table of the rejected one (line and reason); a check-only run and a file with an unknown column
write nothing."""

from playwright.async_api import Page, expect

from tests.portal.browser import VIEWPORT, checked
from tests.portal.journeys import sign_in_as_admin
from tests.portal.seeding import Seeded
from tests.support import RunningService, Tokens

MATERIAL = "CellGenix GMP DC Medium"


async def test_the_operator_registers_a_supplier_and_a_material_and_names_an_alternative(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    materials, admin = clean_hub["materials"], tokens.admin()
    texmacs = seeded.materials["TexMACS GMP Medium"]

    async def alternatives_of(material_id: str) -> dict[str, str]:
        listed = await materials.client.get(f"/v1/materials/{material_id}/alternatives", headers=admin)
        assert listed.status_code == 200, listed.text
        return {a["material"]["name"]: a["note"] for a in listed.json()}

    page = browser_page
    await sign_in_as_admin(page)
    await page.get_by_role("link", name="Catalogue", exact=True).click()
    await expect(page.get_by_role("heading", name="Catalogue", exact=True)).to_be_visible()
    await expect(page.locator("table.suppliers tbody tr")).to_have_count(1)

    await page.get_by_label("Supplier name").fill("CellGenix")
    await page.get_by_label("Country (two letters)").fill("de")
    await page.get_by_label("Qualification").select_option("qualified")
    await page.get_by_role("button", name="Register the supplier").click()
    await expect(page.get_by_role("status")).to_have_text("Supplier CellGenix is registered.")
    await expect(page.locator("table.suppliers tbody tr", has_text="CellGenix")).to_contain_text("qualified")
    listed = await materials.client.get("/v1/suppliers", params={"country": "DE"}, headers=admin)
    cellgenix = next(s for s in listed.json() if s["name"] == "CellGenix")
    assert cellgenix["qualification_status"] == "qualified"

    await page.get_by_label("Material name").fill(MATERIAL)
    await page.get_by_label("Also called").fill("CellGenix DC; GMP DC medium")
    await page.get_by_label("Category").select_option("cell_culture_medium")
    await page.get_by_label("Grade").select_option("gmp")
    await page.get_by_label("Origin", exact=True).select_option("animal_origin_free")
    await page.get_by_label("Supplier", exact=True).select_option(label="CellGenix (DE)")
    await page.get_by_label("Catalogue number").fill("20801-0500")
    await page.get_by_label("USP <1043> tier").select_option("1")
    await page.get_by_label("Meets Ph. Eur. 5.2.12").check()
    await checked(page, "operator-catalogue", at="Register a material")
    await page.get_by_role("button", name="Register the material").click()
    await expect(page.get_by_role("status")).to_contain_text(f"{MATERIAL} is registered.")
    found = await materials.client.get("/v1/materials", params={"catalogue_number": "20801-0500"}, headers=admin)
    [material] = found.json()["items"]
    assert (material["name"], material["supplier"]["name"], material["grade"], material["usp1043_tier"]) == (
        MATERIAL, "CellGenix", "gmp", 1,
    )  # fmt: skip
    assert material["synonyms"] == ["CellGenix DC", "GMP DC medium"] and material["ph_eur_5_2_12"] is True

    before = await alternatives_of(texmacs)
    assert before == {"CellGenix GMP SCGM": "Serum-free, same use"}
    await page.get_by_label("Material", exact=True).select_option(texmacs)
    await page.get_by_label("Its alternative").select_option(texmacs)
    await page.get_by_label("What differs").fill("The same medium")
    await page.get_by_role("button", name="Name the alternative").click()
    await expect(page.locator(".problem")).to_contain_text(
        "Materials refused: A material cannot be its own alternative."
    )
    await expect(page.get_by_label("What differs")).to_have_value("The same medium")
    assert await alternatives_of(texmacs) == before

    await page.get_by_label("Its alternative").select_option(material["material_id"])
    await page.get_by_label("What differs").fill("Animal-origin-free; validated for dendritic cells only")
    await page.get_by_role("button", name="Name the alternative").click()
    await expect(page.get_by_role("status")).to_contain_text("The alternative is named")
    assert await alternatives_of(texmacs) == before | {
        MATERIAL: "Animal-origin-free; validated for dendritic cells only"
    }
    await page.get_by_role("link", name="Open the material").click()
    await expect(page.get_by_role("heading", name="TexMACS GMP Medium")).to_be_visible()
    await expect(page.locator("section", has_text="Alternatives")).to_contain_text(
        f"{MATERIAL} (qualified): Animal-origin-free; validated for dendritic cells only"
    )


CSV = (
    "name,category,grade,origin,origin_species,tse_bse_statement,supplier,catalogue_number,synonyms\n"
    "MACS GMP CD3 pure,selection_antibody_reagent,gmp,animal_origin_free,,,Miltenyi Biotec,170-076-116,OKT3\n"
    "CTS TrypLE Select Enzyme,enzyme,gmp,animal_origin_free,,,,,\n"
    "Human AB serum,serum_or_serum_replacement,gmp,bovine,,,,,\n"
    "Dynabeads CD3/CD28 CTS,magnetic_beads,gmp,animal,murine,Murine antibodies from a TSE-free herd,,,\n"
)


async def test_the_operator_imports_a_csv_and_sees_the_rejected_row_with_its_line_and_reason(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    materials, admin = clean_hub["materials"], tokens.admin()

    async def catalogue() -> set[str]:
        found = await materials.client.get("/v1/materials", params={"limit": 200}, headers=admin)
        assert found.status_code == 200, found.text
        return {m["name"] for m in found.json()["items"]}

    seeded_names = await catalogue()
    assert len(seeded_names) == 3
    page = browser_page
    await sign_in_as_admin(page)
    await page.get_by_role("link", name="Catalogue", exact=True).click()
    await page.get_by_role("link", name="import a CSV of materials").click()
    await expect(page.get_by_role("heading", name="Import materials")).to_be_visible()
    # What the browser measured of each upload, beside what the bar shows.
    await page.evaluate(
        """() => { window.uploaded = [];
            document.body.addEventListener('htmx:beforeSend', (e) => e.detail.xhr.upload.addEventListener(
                'progress', (p) => window.uploaded.push([p.loaded, p.total]))); }"""
    )
    bar = page.get_by_label("Upload", exact=True)
    summary = page.locator(".import-summary")
    rejected = page.locator("table.rejected tbody tr")
    file = {"name": "new-materials.csv", "mimeType": "text/csv", "buffer": CSV.encode()}

    await page.get_by_label("CSV file").set_input_files(file)
    await page.get_by_label("Check only").check()
    await page.get_by_role("button", name="Import the file").click()
    await expect(summary).to_contain_text(
        "4 rows: 3 would be imported (checked only: nothing was written), 1 rejected."
    )
    assert await catalogue() == seeded_names

    await page.get_by_label("Check only").uncheck()
    await page.evaluate("window.uploaded = []")
    await page.get_by_role("button", name="Import the file").click()
    await expect(summary).to_contain_text("4 rows: 3 imported, 1 rejected.")
    await expect(page.get_by_role("heading", name="new-materials.csv")).to_be_visible()
    await expect(rejected).to_have_count(1)
    await expect(rejected.locator("td").nth(0)).to_have_text("4")
    await expect(rejected.locator("td").nth(1)).to_have_text(
        "origin 'bovine' is not one of: animal_origin_free, human, animal"
    )
    loaded, total = (await page.evaluate("window.uploaded"))[-1]
    assert loaded == total > len(CSV), "the upload is complete, as the browser measured it (the form's body)"
    assert await bar.evaluate("bar => [bar.value, bar.max]") == [total, total]
    assert await catalogue() == seeded_names | {
        "MACS GMP CD3 pure",
        "CTS TrypLE Select Enzyme",
        "Dynabeads CD3/CD28 CTS",
    }
    await checked(page, "operator-import")

    await page.get_by_label("CSV file").set_input_files(
        {"name": "colours.csv", "mimeType": "text/csv", "buffer": b"name,colour\nCTS Immune Cell SR,red\n"}
    )
    await page.get_by_role("button", name="Import the file").click()
    await expect(page.locator("#import-report .problem")).to_contain_text(
        "Materials refused: Unknown column(s) colour; the columns are: name, synonyms"
    )
    await expect(summary).to_have_count(0)
    assert len(await catalogue()) == 6


async def test_without_script_the_import_form_posts_the_file_and_answers_with_the_whole_page(
    browser, portal: str, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    context = await browser.new_context(viewport=VIEWPORT, base_url=portal, java_script_enabled=False)
    try:
        page = await context.new_page()
        await sign_in_as_admin(page)
        await page.goto("/operator/catalogue/import")
        await page.get_by_label("CSV file").set_input_files(
            {"name": "one.csv", "mimeType": "text/csv", "buffer": "\n".join(CSV.split("\n")[:2]).encode()}
        )
        await page.get_by_role("button", name="Import the file").click()
        await expect(page.get_by_role("heading", name="Import materials")).to_be_visible()
        await expect(page.locator(".import-summary")).to_contain_text("1 row: 1 imported, 0 rejected.")
        found = await clean_hub["materials"].client.get(
            "/v1/materials", params={"catalogue_number": "170-076-116"}, headers=tokens.admin()
        )
        assert [m["name"] for m in found.json()["items"]] == ["MACS GMP CD3 pure"]
    finally:
        await context.close()

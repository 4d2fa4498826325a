"""Journey 2, a developer books: picks a slot, names the run and its materials (the catalogue
searched as they type, typos and all), holds it with the countdown showing, confirms, and watches
"awaiting materials" turn "confirmed", or "materials short" with the alternatives and the facilities
stocking them, with no reload."""

import re
from datetime import date, timedelta

import httpx
from playwright.async_api import Page, expect

from services.portal.main import create_portal
from services.portal.settings import PortalSettings
from tests.integration.scheduling.helpers import active_agreement
from tests.portal.browser import checked
from tests.portal.journeys import sign_in_as_developer
from tests.portal.seeding import FACILITIES, Seeded, created
from tests.support import RunningService, Tokens


async def book_first_slot(page: Page, product: str, material_query: str, material: str, quantity: str) -> None:
    await page.goto("/capacity?country=DE")
    await page.locator("#results tbody tr").first.get_by_role("link", name="Book").click()
    await expect(page.get_by_role("heading", name="Book a manufacturing run")).to_be_visible()
    await page.get_by_label("Product").fill(product)
    await page.get_by_label("Run kind").select_option("development")
    await page.get_by_label("Add a material: search the catalogue").fill(material_query)
    await page.get_by_role("button", name=f"Add {material}").click()
    await page.get_by_label(f"Quantity of {material}").fill(quantity)


async def test_a_developer_holds_confirms_and_sees_the_booking_confirmed_without_a_reload(
    browser_page: Page, seeded: Seeded
):
    page = browser_page
    await sign_in_as_developer(page)
    await book_first_slot(page, "CAR-T CD19 autologous", "texmacs medum", "TexMACS GMP Medium", "400")
    await checked(page, "book")
    await page.get_by_role("button", name="Hold these slots").click()

    await expect(page.get_by_role("heading", name="CAR-T CD19 autologous")).to_be_visible()
    await expect(page.locator(".state-line")).to_contain_text("held")
    countdown = page.locator("time.countdown")
    await expect(countdown).to_have_text(__import__("re").compile(r"^1[45]:\d\d$"))
    first = await countdown.text_content()
    await page.wait_for_timeout(1100)
    assert await countdown.text_content() != first, "the countdown runs"
    await checked(page, "booking-held")

    await page.evaluate("window.stillTheSamePage = true")
    await page.get_by_role("button", name="Confirm the booking").click()
    await expect(page.locator(".state-line")).to_contain_text("Confirmed: the slots and the materials are reserved")
    history = page.locator(".timeline")
    await expect(history).to_contain_text("held")
    await expect(history).to_contain_text("confirmed")
    assert await page.evaluate("window.stillTheSamePage === true"), "no reload"
    await checked(page, "booking-confirmed")


async def test_a_booking_short_of_material_shows_the_shortfall_and_where_its_alternatives_are_stocked(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    # Beside the demo's 5000 mL of the alternative at each facility, a second lot at Leiden.
    leiden, cellgenix = seeded.facilities[1], seeded.materials["CellGenix GMP SCGM"]
    lot = {"material_id": cellgenix, "lot_number": "L2027-0117", "quantity": "2500", "unit": "mL",
           "expires_on": str(date.today() + timedelta(days=90))}  # fmt: skip
    await created(clean_hub["materials"], f"/v1/facilities/{leiden}/lots", lot, tokens.facility(leiden))

    page = browser_page
    await sign_in_as_developer(page)
    await book_first_slot(page, "CAR-T CD19 second patient", "TexMACS", "TexMACS GMP Medium", "9000")
    await page.get_by_role("button", name="Hold these slots").click()
    await page.evaluate("window.stillTheSamePage = true")
    await page.get_by_role("button", name="Confirm the booking").click()
    await expect(page.locator(".state-line")).to_contain_text("materials short")
    shortfall = page.locator(".shortfall")
    await expect(shortfall).to_contain_text("TexMACS GMP Medium: 9000 mL needed, 5000 mL in stock")
    await expect(shortfall).to_contain_text("CellGenix GMP SCGM")
    stocked = shortfall.get_by_role("list", name="Where CellGenix GMP SCGM is stocked")
    await expect(stocked.get_by_role("listitem")).to_have_text([
        f"{FACILITIES[1]['legal_name']}: 7500 mL available in 2 lots, earliest expiry {date.today() + timedelta(days=90)}",
        f"{FACILITIES[0]['legal_name']}: 5000 mL available, earliest expiry {date.today() + timedelta(days=400)}",
    ])  # fmt: skip
    assert await page.evaluate("window.stillTheSamePage === true"), "no reload"
    await checked(page, "booking-materials-short")


async def test_a_clinical_hold_without_an_approval_is_refused_with_the_reason_and_held_with_one(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    page = browser_page
    await sign_in_as_developer(page)
    await book_first_slot(page, "Clinical batch", "IL-2", "MACS GMP Recombinant Human IL-2", "10")
    await page.get_by_label("Run kind").select_option("clinical")
    await page.get_by_role("button", name="Hold these slots").click()
    await expect(page.get_by_role("alert")).to_contain_text("Scheduling refused:")
    await expect(page.get_by_label("Product")).to_have_value("Clinical batch")
    await expect(page.get_by_label("Quantity of MACS GMP Recombinant Human IL-2")).to_have_value("10")
    await checked(page, "book-refused")

    await page.get_by_label("Approval (needed for a clinical run)").select_option(
        label="CD19 CAR-T manufacturing platform (DE-PEI)"
    )
    await page.get_by_role("button", name="Hold these slots").click()
    await expect(page.get_by_role("heading", name="Clinical batch")).to_be_visible()
    await expect(page.locator(".state-line")).to_contain_text("held")

    # Confirming needs a technical agreement with the facility (EU GMP Chapter 7): the page says so
    # and what to do; once both sides signed one, the same button confirms.
    await page.get_by_role("button", name="Confirm the booking").click()
    await expect(page.get_by_role("alert")).to_contain_text("needs an active technical agreement (EU GMP Chapter 7)")
    await expect(page.get_by_role("alert")).to_contain_text("have both sides sign it, then confirm again")
    await expect(page.locator(".state-line")).to_contain_text("held")
    await active_agreement(clean_hub["scheduling"], tokens, seeded.facilities[0])
    await page.get_by_role("button", name="Confirm the booking").click()
    await expect(page.locator(".state-line")).to_contain_text("Confirmed: the slots and the materials are reserved")


# --- where stocked, with a service away (no browser: the services are stand-ins) ---------------------

SHORT, STOCKED, NOWHERE, AWAY = "m-short", "m-stocked", "m-nowhere", "m-away"
F1, F2 = "f-listed", "f-beyond-the-first-page"


def stand_in(answers: dict[str, object]) -> httpx.MockTransport:
    """A service answering these paths; one whose answer is None does not answer at all."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path not in answers:
            return httpx.Response(404, json={"detail": "No such thing."})
        if (found := answers[request.url.path]) is None:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=found)

    return httpx.MockTransport(handle)


def material_of(material_id: str, alternatives: list[str]) -> dict:
    return {"material_id": material_id, "name": f"Material {material_id}", "supplier": None, "alternatives": [
        {"material": {"material_id": a, "name": f"Material {a}", "supplier": None}, "note": "same use",
         "qualified": True} for a in alternatives
    ]}  # fmt: skip


def stock_at(facility_id: str, available: str) -> dict:
    return {
        "facility_id": facility_id,
        "available": available,
        "unit": "mL",
        "lots": 1,
        "earliest_expiry": "2027-05-31",
    }


MATERIALS = {
    f"/v1/materials/{SHORT}": material_of(SHORT, [STOCKED, NOWHERE, AWAY]),
    f"/v1/materials/{STOCKED}/stock": [stock_at(F1, "40"), stock_at(F2, "12.5")],
    f"/v1/materials/{NOWHERE}/stock": [],
    f"/v1/materials/{AWAY}/stock": None,  # materials does not answer this one read
}
BOOKING = {"booking_id": "b-1", "product": "CAR-T batch", "run_kind": "development", "status": "materials_short",
           "awaiting_materials": False, "starts_at": "2027-03-01T08:00:00+00:00", "ends_at": "2027-03-02T08:00:00+00:00",
           "hold_expires_at": None, "materials_overdue_since": None, "at_risk": False, "at_risk_reasons": [],
           "shortfalls": [{"material_id": SHORT, "requested": "100", "available": "20", "unit": "mL"}]}  # fmt: skip
SCHEDULING = {"/v1/bookings/b-1": BOOKING, "/v1/bookings/b-1/history": []}


async def booking_page(tmp_path, registry: httpx.MockTransport) -> str:
    transports = {"materials": stand_in(MATERIALS), "scheduling": stand_in(SCHEDULING), "registry": registry,
                  "approvals": stand_in({})}  # fmt: skip
    app = create_portal(PortalSettings(data_dir=tmp_path), transports)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://portal") as client:
        csrf = (await client.get("/sign-in")).text.split('"X-CSRF-Token": "')[1].split('"')[0]
        await client.post("/sign-in/development", data={"csrf_token": csrf, "role": "developer", "org_id": "ORG-1"})
        page = await client.get("/bookings/b-1")
        assert page.status_code == 200
        return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())  # the page's text


async def test_where_alternatives_are_stocked_shows_what_answered_when_a_service_is_away(tmp_path, monkeypatch):
    for name in [n for n in __import__("os").environ if n.startswith("GMPHUB_")]:
        monkeypatch.delenv(name)
    named = stand_in({
        "/v1/facilities": {"items": [{"facility_id": F1, "legal_name": "Kiel GMP"}], "total": 2},
        f"/v1/facilities/{F2}": {"facility_id": F2, "legal_name": "Graz GMP"},  # read on its own
    })  # fmt: skip
    page = await booking_page(tmp_path, named)
    assert "Kiel GMP: 40 mL available, earliest expiry 2027-05-31" in page
    assert "Graz GMP: 12.5 mL available" in page
    assert "Material m-nowhere, qualified: same use Not stocked anywhere on the hub." in page
    assert page.count("Materials is not answering.") == 1, "only where-stocked of the one alternative is missing"
    assert "Material m-away, qualified: same use" in page and "100 mL needed, 20 mL in stock at the facility" in page

    page = await booking_page(tmp_path, stand_in({"/v1/facilities": None}))
    assert "Registry is not answering." in page, "the facilities' names are missing"
    assert f"facility {F1}: 40 mL available" in page and f"facility {F2}: 12.5 mL available" in page

"""Journey 10, the public directory: a visitor who is not signed in finds it from the sign-in
page, searches it by country and cleanroom grade (a facility without a valid certificate is not
there), opens a facility and sees its capabilities, its certificate's status and history and its
open capacity by month; nothing of bookings, developers, reasons or contacts. The portal calls the
public reads without a token, even for a signed-in user."""

from collections import Counter
from datetime import UTC, datetime

import httpx
from playwright.async_api import Page, expect

from services.portal.main import create_portal
from services.portal.settings import PortalSettings
from shared.settings import SERVICES
from tests.portal.browser import check_accessibility, checked, fits_a_tablet
from tests.portal.seeding import Seeded
from tests.support import RunningService, Tokens, eventually

CHARITE = "Charité GMP Unit for Cell Therapy"
LEIDEN = "Leiden GMP Facility for Cell and Gene Therapy"
MUNICH = "Munich Uncertified Cell Lab"


async def months_open(scheduling: RunningService, tokens: Tokens, facility_id: str) -> Counter:
    """What the developers' search offers at the facility, counted by the month each slot starts."""
    answer = await scheduling.client.get(
        "/v1/slots", params={"facility_id": facility_id, "limit": 500}, headers=tokens.developer()
    )
    assert answer.status_code == 200, answer.text
    return Counter(
        datetime.fromisoformat(s["starts_at"]).astimezone(UTC).strftime("%b %Y") for s in answer.json()["items"]
    )


async def test_a_visitor_searches_the_directory_and_opens_a_facility_without_signing_in(
    browser_page: Page, seeded: Seeded, clean_hub: dict[str, RunningService], tokens: Tokens
):
    registry, scheduling = clean_hub["registry"], clean_hub["scheduling"]
    berlin, certificate = seeded.facilities[0], seeded.certificates[0]
    # A Munich facility with a grade B suite but no certificate: not in the directory.
    munich = await registry.client.post(
        "/v1/facilities", headers=tokens.admin(),
        json={"legal_name": MUNICH, "kind": "hospital", "country": "DE", "city": "Munich", "address": "Marchioninistr. 15",
              "contact_email": "munich@gmp.example.org", "authorisation_number": "DE-BY-MIA-9",
              "authorisation_authority": "DE-RegOB"},
    )  # fmt: skip
    munich_id = munich.json()["facility_id"]
    await registry.client.post(f"/v1/facilities/{munich_id}/suites", headers=tokens.facility(munich_id),
                               json={"name": "Suite M", "cleanroom_grade": "B", "atmp_types": ["somatic_cell_therapy"]})  # fmt: skip
    # Berlin's certificate was suspended and reinstated: its history shows it, its reasons do not.
    pei = tokens.regulator("DE-PEI")
    for action, reason in (("suspend", "Sterility failures in batch 7"), ("reinstate", "CAPA verified on site")):
        answer = await registry.client.post(
            f"/v1/certificates/{certificate}/{action}", json={"reason": reason}, headers=pei
        )
        assert answer.status_code == 200, answer.text

    async def reinstated_seen() -> bool:  # scheduling has followed the suspension and the reinstatement
        [(version,)] = await registry.sql("SELECT version FROM facility WHERE id = :f", f=berlin)
        rows = await scheduling.sql(
            "SELECT status, version FROM certificate_view WHERE certificate_id = :c", c=certificate
        )
        return bool(rows) and (rows[0].status, rows[0].version) == ("valid", version)

    await eventually(reinstated_seen, timeout=10.0)
    # A developer holds one of Berlin's slots: one fewer open, and nothing of the booking is public.
    slots = (
        await scheduling.client.get("/v1/slots", params={"facility_id": berlin}, headers=tokens.developer())
    ).json()
    held = await scheduling.client.post("/v1/bookings", headers=tokens.developer("ORG-SECRET"), json={
        "slot_ids": [slots["items"][0]["slot_id"]], "product": "Secret CAR-T CD19", "run_kind": "development"})  # fmt: skip
    assert held.status_code == 201, held.text
    expected = await months_open(scheduling, tokens, berlin)
    assert sum(expected.values()) == 2  # three weekly slots, one held

    page = browser_page
    await page.goto("/sign-in")
    await page.get_by_role("link", name="directory of certified facilities").click()
    await expect(page.get_by_role("heading", name="Directory of certified facilities")).to_be_visible()
    await expect(page.get_by_text("Signed in as")).to_have_count(0)
    rows = page.locator("table.directory tbody tr")
    await expect(rows).to_have_count(2)
    await expect(page.get_by_role("heading", name="2 certified facilities")).to_be_visible()
    await expect(page.get_by_role("link", name=MUNICH)).to_have_count(0)

    await page.get_by_label("Country").select_option("DE")
    await expect(rows).to_have_count(1)
    await page.get_by_label("Cleanroom grade").select_option("B")
    await expect(page.get_by_role("heading", name="1 certified facility matches")).to_be_visible()
    await expect(rows).to_have_count(1)
    row = rows.first
    await expect(row).to_contain_text(CHARITE)
    await expect(row).to_contain_text("Berlin, DE")
    await expect(row).to_contain_text("CAR-T cell manufacture")
    await expect(row.locator(".badge")).to_have_text("valid")
    await expect(page.get_by_role("link", name=LEIDEN)).to_have_count(0)
    await expect(page.get_by_role("link", name=MUNICH)).to_have_count(0)  # grade B in DE, but not certified
    assert "country=DE" in page.url and "cleanroom_grade=B" in page.url  # the search can be shared
    await checked(page, "public-directory")
    await fits_a_tablet(page)

    await page.get_by_label("Country").select_option("NL")
    await expect(page.get_by_role("link", name=LEIDEN)).to_be_visible()
    await page.get_by_label("Cleanroom grade").select_option("isolator")
    await expect(page.get_by_text("No certified facility matches.")).to_be_visible()
    await page.get_by_label("Country").select_option("DE")
    await page.get_by_label("Cleanroom grade").select_option("B")

    await page.get_by_role("link", name=CHARITE).click()
    await expect(page.get_by_role("heading", name=CHARITE, level=1)).to_be_visible()
    await expect(
        page.get_by_text("Hospital (hospital exemption or clinical-trial manufacture) in Berlin, DE")
    ).to_be_visible()
    suite = page.locator("table.capabilities tbody tr")
    await expect(suite).to_have_count(1)
    await expect(suite.get_by_role("rowheader")).to_have_text("Suite 2 (CAR-T)")
    await expect(suite).to_contain_text("EU GMP Annex 1 grade B")
    await expect(suite).to_contain_text("Somatic cell therapy medicinal product")
    await expect(suite).to_contain_text("CAR-T cell manufacture, Closed system: Miltenyi CliniMACS Prodigy")
    await expect(suite.locator("td").last).to_have_text("yes")

    cert = page.locator("table.certificates tbody tr")
    await expect(cert).to_have_count(1)
    await expect(cert.get_by_role("rowheader")).to_have_text(f"DE-PEI-GMP-{datetime.now(UTC).year}-{berlin[:4]}")
    await expect(cert.locator(".badge")).to_have_text("valid")
    await expect(cert.locator("ol.timeline li")).to_have_count(3)
    today = datetime.now(UTC).strftime("%d %b %Y")
    await expect(cert.locator("ol.timeline li")).to_have_text(
        [f"valid {today}", f"suspended {today}", f"valid {today}"]
    )

    capacity = page.locator("table.capacity-months")
    headers = await capacity.locator("thead th").all_inner_texts()
    assert len(headers) == 13 and headers[1] == datetime.now(UTC).strftime("%b %Y")
    cells = await capacity.locator("tbody tr").first.locator("td").all_inner_texts()
    await expect(capacity.locator("tbody th")).to_have_text("Suite 2 (CAR-T) (grade B)")
    assert dict(zip(headers[1:], map(int, cells), strict=True)) == {m: expected[m] for m in headers[1:]}

    shown = await page.locator("main").inner_text()
    for private in ("Sterility failures", "CAPA verified", "ORG-SECRET", "Secret CAR-T", "qa@gmp.example.org",
                    "Augustenburger", "DE-MIA-0001", "regulator", "inspector"):  # fmt: skip
        assert private not in shown, private
    await checked(page, "public-directory-facility", at="Open capacity by month")
    await fits_a_tablet(page)  # the twelve months scroll inside their own frame

    # A facility that is not in the directory is not found, and says so.
    answer = await page.goto(f"/directory/{munich_id}")
    assert answer is not None and answer.status == 404
    await expect(page.get_by_role("alert")).to_contain_text(f"No facility {munich_id} in the public directory.")
    await check_accessibility(page, "directory-not-found")


async def test_the_portal_calls_the_public_reads_without_a_token_even_for_a_signed_in_user(tmp_path, monkeypatch):
    for name in [n for n in __import__("os").environ if n.startswith("GMPHUB_")]:
        monkeypatch.delenv(name)
    seen: list[tuple[str, str | None]] = []
    facility = {"facility_id": "f-1", "legal_name": "Somewhere GMP", "kind": "cdmo", "country": "DE", "city": "Kiel",
                "suites": [], "certificates": []}  # fmt: skip
    answers = {
        "/v1/public/vocabularies": {"countries": [{"term": "DE", "label": "Germany"}]},
        "/v1/public/facilities": {"items": [facility], "total": 1, "page": 1, "page_size": 20},
        "/v1/public/facilities/f-1": facility,
        "/v1/public/capacity": {"facility_id": "f-1", "months": ["2027-03"], "suites": []},
    }

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        found = answers.get(request.url.path)
        if found is None:
            return httpx.Response(404, json={"detail": "No such thing."})
        return httpx.Response(200, json=found)

    transports = {s: httpx.MockTransport(handle) for s in SERVICES}
    app = create_portal(PortalSettings(data_dir=tmp_path), transports)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://portal") as client:
        listed = await client.get("/directory", params={"country": "DE"})
        assert listed.status_code == 200 and "Somewhere GMP" in listed.text and 'href="/sign-in"' in listed.text
        opened = await client.get("/directory/f-1")
        assert (
            opened.status_code == 200
            and "Kiel, DE" in opened.text
            and "No suite has capacity published." in opened.text
        )
        public = [token for path, token in seen if path.startswith("/v1/public/")]
        assert len(public) == 5 and public == [None] * 5

        page = await client.get("/sign-in")
        csrf = page.text.split('"X-CSRF-Token": "')[1].split('"')[0]
        signed = await client.post(
            "/sign-in/development", data={"csrf_token": csrf, "role": "developer", "org_id": "ORG-1"}
        )
        assert signed.status_code == 303
        seen.clear()
        again = await client.get("/directory")
        assert again.status_code == 200 and "Signed in as developer ORG-1" in again.text
        assert seen and all(token is None for _, token in seen)

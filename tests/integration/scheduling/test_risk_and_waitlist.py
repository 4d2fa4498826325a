"""Search, at-risk flags from certificates and shortages, and the waitlist."""

import uuid
from datetime import timedelta

from services.materials import events as mat
from services.registry import events as reg
from tests.integration.scheduling.helpers import (
    certificate_seen,
    certified_site,
    feed,
    hold,
    publish,
    set_certificate,
    start,
)
from tests.support import eventually


async def test_search_filters_pages_and_hides_uncertified_facilities(registry, scheduling, tokens):
    de = await certified_site(registry, scheduling, country="DE", grade="B", atmp_types=("gene_therapy",))
    fr = await certified_site(registry, scheduling, country="FR", grade="A", atmp_types=("somatic_cell_therapy",),
                              processes=("cell_expansion",))  # fmt: skip
    await publish(scheduling, tokens, de, count=5, hours=2)
    await publish(scheduling, tokens, fr, count=3, hours=2, days=8)
    developer = tokens.developer()

    async def find(**params):
        response = await scheduling.client.get("/v1/slots", params=params, headers=developer)
        assert response.status_code == 200, response.text
        return response.json()

    everything = await find()
    starts = [s["starts_at"] for s in everything["items"]]
    assert len(starts) == 8 and starts == sorted(starts)
    assert {s["country"] for s in (await find(country="FR"))["items"]} == {"FR"}
    assert len((await find(atmp_type="gene_therapy"))["items"]) == 5
    grade_a = await find(process="cell_expansion", cleanroom_grade="A")
    assert len(grade_a["items"]) == 3
    # A filtered search pages as the whole of it reads.
    page = await find(process="cell_expansion", cleanroom_grade="A", limit=2)
    rest = await find(process="cell_expansion", cleanroom_grade="A", limit=2, after=page["next_cursor"])
    assert [s["slot_id"] for s in page["items"] + rest["items"]] == [s["slot_id"] for s in grade_a["items"]]
    assert rest["next_cursor"] is None
    assert (
        len(
            (await find(facility_id=str(de.facility_id), ends_before=(start(7) + timedelta(hours=4)).isoformat()))[
                "items"
            ]
        )
        == 2
    )
    first = await find(limit=3)
    second = await find(limit=3, after=first["next_cursor"])
    assert [s["slot_id"] for s in first["items"] + second["items"]] == [s["slot_id"] for s in everything["items"][:6]]
    assert (
        await scheduling.client.get("/v1/slots", params={"after": "nonsense"}, headers=developer)
    ).status_code == 400

    await set_certificate(registry, fr, reg.CertificateSuspended, "suspended", "sterility failure")
    await certificate_seen(scheduling, fr, "suspended")
    assert {s["country"] for s in (await find())["items"]} == {"DE"}


async def test_bookings_flagged_at_risk_and_cleared(registry, scheduling, materials, tokens):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    material_id = uuid.uuid4()
    needs = [{"material_id": str(material_id), "quantity": "1", "unit": "vial"}]
    needy = (await hold(scheduling, tokens, [slots[0]], material_needs=needs)).json()
    plain = (await hold(scheduling, tokens, [slots[1]])).json()
    developer = tokens.developer()

    async def reasons(booking_id):
        return (await scheduling.client.get(f"/v1/bookings/{booking_id}", headers=developer)).json()["at_risk_reasons"]

    await set_certificate(registry, site, reg.CertificateSuspended, "suspended", "critical deviation")
    await eventually(lambda: _has(reasons(plain["booking_id"]), "suspended: critical deviation"), timeout=5.0)

    def shortage(status, version):
        return mat.ShortageState(shortage_id=shortage_id, material_id=material_id, material_name="IL-2", version=version,
                                 severity="high", status=status, regions=["EU"], reason="supplier recall")  # fmt: skip

    shortage_id = uuid.uuid4()
    await feed(materials, mat.ShortageDeclared(shortage_id=shortage_id, shortage=shortage("active", 1)))
    await eventually(lambda: _has(reasons(needy["booking_id"]), "IL-2 is short (high): supplier recall"), timeout=5.0)
    assert not any("short" in r for r in await reasons(plain["booking_id"]))
    flagged = await scheduling.client.get("/v1/bookings", params={"at_risk": "true"}, headers=developer)
    assert len(flagged.json()) == 2

    await set_certificate(registry, site, reg.CertificateReinstated, "valid")
    await feed(materials, mat.ShortageResolved(shortage_id=shortage_id, shortage=shortage("resolved", 2)))

    async def cleared():
        return await reasons(needy["booking_id"]) == [] and await reasons(plain["booking_id"]) == []

    await eventually(cleared, timeout=5.0)
    changes = await scheduling.outbox_events("gmphub.scheduling.booking.at_risk_changed.v1")
    assert [len(e["data"]["booking"]["at_risk_reasons"]) for e in changes if e["subject"] == needy["booking_id"]] == [
        1,
        2,
        1,
        0,
    ]


async def _has(reasons, text) -> bool:
    return any(text in r for r in await reasons)


async def test_waitlist_first_in_line_gets_the_freed_slot(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling, country="NL")
    [slot] = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=1)]
    taken = (await hold(scheduling, tokens, [slot], org="ORG-1")).json()
    criteria = {"product": "TIL therapy", "run_kind": "development", "country": "NL", "atmp_type": "gene_therapy"}
    first = await scheduling.client.post("/v1/waitlist", json=criteria, headers=tokens.developer("ORG-2"))
    second = await scheduling.client.post("/v1/waitlist", json=criteria, headers=tokens.developer("ORG-3"))
    elsewhere = await scheduling.client.post(
        "/v1/waitlist", json=criteria | {"country": "IT"}, headers=tokens.developer("ORG-4")
    )
    assert first.status_code == second.status_code == elsewhere.status_code == 201

    await scheduling.client.post(f"/v1/bookings/{taken['booking_id']}/cancel", headers=tokens.developer("ORG-1"))
    [offered] = (await scheduling.client.get("/v1/bookings", headers=tokens.developer("ORG-2"))).json()
    assert (
        offered["status"] == "held"
        and offered["slot_ids"] == [slot]
        and offered["waitlist_entry_id"] == first.json()["waitlist_entry_id"]
    )
    [event] = await scheduling.outbox_events("gmphub.scheduling.waitlist.hold_offered.v1")
    assert event["data"]["waitlist_entry_id"] == first.json()["waitlist_entry_id"]
    statuses = [e["status"] for e in (await scheduling.client.get("/v1/waitlist", headers=tokens.admin())).json()]
    assert statuses == ["offered", "waiting", "waiting"]

    # new capacity goes to the next in line; the entry elsewhere keeps waiting
    more = await publish(scheduling, tokens, site, count=1, days=9)
    assert more[0]["status"] == "held"
    assert len((await scheduling.client.get("/v1/bookings", headers=tokens.developer("ORG-3"))).json()) == 1
    left = await scheduling.client.post(
        f"/v1/waitlist/{elsewhere.json()['waitlist_entry_id']}/leave", headers=tokens.developer("ORG-4")
    )
    assert left.json()["status"] == "cancelled"


async def test_joining_while_a_matching_slot_is_open_holds_it_at_once_behind_those_earlier_in_line(
    registry, scheduling, tokens
):
    site = await certified_site(registry, scheduling, country="AT")
    criteria = {"product": "MSC therapy", "run_kind": "development", "country": "AT"}
    early = await scheduling.client.post("/v1/waitlist", json=criteria, headers=tokens.developer("ORG-1"))
    assert early.json()["status"] == "waiting"  # nothing published yet

    [first] = await publish(scheduling, tokens, site, count=1)  # goes to the entry already waiting
    assert first["status"] == "held"
    [second] = await publish(scheduling, tokens, site, count=1, days=10)
    assert second["status"] == "open"

    joined = await scheduling.client.post("/v1/waitlist", json=criteria, headers=tokens.developer("ORG-2"))
    assert joined.status_code == 201 and joined.json()["status"] == "offered"
    [booking] = (await scheduling.client.get("/v1/bookings", headers=tokens.developer("ORG-2"))).json()
    assert booking["slot_ids"] == [second["slot_id"]] and booking["status"] == "held"
    assert booking["booking_id"] == joined.json()["booking_id"]

    nothing_left = await scheduling.client.post("/v1/waitlist", json=criteria, headers=tokens.developer("ORG-3"))
    assert nothing_left.json()["status"] == "waiting"
    offers = await scheduling.outbox_events("gmphub.scheduling.waitlist.hold_offered.v1")
    assert [e["data"]["booking"]["org_id"] for e in offers] == ["ORG-1", "ORG-2"]


async def test_a_deactivated_facility_drops_out_of_search_until_it_is_reactivated(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling, country="BE")
    [slot] = await publish(scheduling, tokens, site, count=1)

    async def found() -> bool:
        response = await scheduling.client.get("/v1/slots", params={"country": "BE"}, headers=tokens.developer())
        return [s["slot_id"] for s in response.json()["items"]] == [slot["slot_id"]]

    async def gone() -> bool:
        return not await found()

    def facility(active: bool) -> reg.FacilityState:
        return reg.FacilityState(
            facility_id=site.facility_id, version=site.next_version(), legal_name="GMP unit BE B", kind="hospital",
            country="BE", city="Brussels", address="Rue 1", contact_email="qa@gmp.example.org",
            authorisation_number="BE-MIA-1", authorisation_authority="BE-FAMHP", active=active,
        )  # fmt: skip

    assert await found()
    closed = facility(active=False)
    await feed(registry, reg.FacilityDeactivated(facility_id=site.facility_id, version=closed.version, facility=closed,
                                                 reason="Closed by mistake"))  # fmt: skip
    await eventually(gone, timeout=5.0)
    reopened = facility(active=True)
    await feed(registry, reg.FacilityReactivated(facility_id=site.facility_id, version=reopened.version, facility=reopened,
                                                 reason="Reopened"))  # fmt: skip
    await eventually(found, timeout=5.0)

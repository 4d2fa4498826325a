"""The public directory's capacity, read without a token: how many slots are open to booking per
suite and month, this month and the eleven after it; nothing of bookings or who made them, and
nothing at all of a facility that is not certified or not active."""

import json
import uuid
from collections import Counter
from datetime import UTC, datetime

from services.registry import events as reg
from tests.integration.scheduling.helpers import certificate_seen, certified_site, feed, hold, publish, set_certificate
from tests.support import eventually


def month_of(moment: str) -> str:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m")


async def capacity(scheduling, facility_id) -> dict:
    response = await scheduling.client.get("/v1/public/capacity", params={"facility_id": str(facility_id)})
    assert response.status_code == 200, response.text
    return response.json()


async def test_open_slots_are_counted_by_suite_and_month_and_bookings_stay_private(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    near = await publish(scheduling, tokens, site, days=7, count=4)
    later = await publish(scheduling, tokens, site, days=60, count=3)
    beyond = await publish(scheduling, tokens, site, days=400, count=2)  # past the twelve months shown
    held = await hold(scheduling, tokens, [near[0]["slot_id"]], org="ORG-SECRET", product="Secret CAR-T")
    assert held.status_code == 201, held.text
    blocked = await scheduling.client.post(
        f"/v1/facilities/{site.facility_id}/slots/block",
        json={"slot_ids": [near[1]["slot_id"]], "reason": "maintenance"},
        headers=tokens.facility(site.facility_id),
    )
    assert blocked.status_code == 200, blocked.text

    body = await capacity(scheduling, site.facility_id)
    this_month = datetime.now(UTC).strftime("%Y-%m")
    assert len(body["months"]) == 12 and body["months"][0] == this_month
    assert month_of(beyond[0]["starts_at"]) not in body["months"]
    [suite] = body["suites"]
    assert (suite["suite_id"], suite["suite_name"], suite["cleanroom_grade"]) == (str(site.suite_id), "Suite B", "B")
    expected = Counter(month_of(s["starts_at"]) for s in near[2:] + later)  # held and blocked are not open
    assert {m["month"]: m["open_slots"] for m in suite["months"]} == {m: expected[m] for m in body["months"]}
    assert sum(m["open_slots"] for m in suite["months"]) == 5

    assert set(body) == {"facility_id", "months", "suites"}
    assert set(suite) == {"suite_id", "suite_name", "cleanroom_grade", "months"}
    text = json.dumps(body)
    for private in ("ORG-SECRET", "Secret CAR-T", held.json()["booking_id"], near[0]["slot_id"], "maintenance"):
        assert private not in text, private


async def test_a_facility_not_certified_or_not_active_is_not_found(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    await publish(scheduling, tokens, site, days=7, count=2)
    assert sum(m["open_slots"] for m in (await capacity(scheduling, site.facility_id))["suites"][0]["months"]) == 2

    await set_certificate(registry, site, reg.CertificateSuspended, "suspended", "Sterility failures")
    await certificate_seen(scheduling, site, "suspended")
    response = await scheduling.client.get("/v1/public/capacity", params={"facility_id": str(site.facility_id)})
    assert (response.status_code, response.headers["content-type"]) == (404, "application/problem+json")
    assert response.json()["detail"] == f"No facility {site.facility_id} in the public directory."

    await set_certificate(registry, site, reg.CertificateReinstated, "valid")
    await certificate_seen(scheduling, site, "valid")
    assert (await capacity(scheduling, site.facility_id))["suites"]
    closed = reg.FacilityState(
        facility_id=site.facility_id, version=site.next_version(), legal_name="GMP unit DE B", kind="hospital",
        country="DE", city="Berlin", address="Augustenburger Platz 1", contact_email="qa@gmp.example.org",
        authorisation_number="DE_BE_01_MIA_2024_0042", authorisation_authority="DE-LAGeSo", active=False,
    )  # fmt: skip
    await feed(registry, reg.FacilityDeactivated(facility_id=site.facility_id, version=closed.version, facility=closed,
                                                 reason="Closed"))  # fmt: skip

    async def gone() -> bool:
        answer = await scheduling.client.get("/v1/public/capacity", params={"facility_id": str(site.facility_id)})
        return answer.status_code == 404

    await eventually(gone, timeout=5.0)
    unknown = await scheduling.client.get("/v1/public/capacity", params={"facility_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    assert (await scheduling.client.get("/v1/public/capacity")).status_code == 422  # facility_id is required

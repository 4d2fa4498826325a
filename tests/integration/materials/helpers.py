"""Builders the materials tests share: catalogue entries through the API, bookings as scheduling
would publish them."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.scheduling.consumers import follows as scheduling_follows
from services.scheduling.events import BookingState, MaterialNeed
from tests.support import eventually

MEDIUM = {
    "name": "TexMACS GMP Medium",
    "synonyms": ["T cell expansion medium"],
    "category": "cell_culture_medium",
    "catalogue_number": "170-076-306",
    "grade": "gmp",
    "usp1043_tier": 1,
    "origin": "animal_origin_free",
    "ph_eur_5_2_12": True,
    "coa_reference": "https://supplier.example/coa/170-076-306",
}


async def supplier(materials, tokens, name="Miltenyi Biotec", status="qualified", country="DE"):
    response = await materials.client.post(
        "/v1/suppliers", json={"name": name, "country": country, "qualification_status": status}, headers=tokens.admin()
    )
    assert response.status_code == 201, response.text
    return response.json()["supplier_id"]


async def material(materials, tokens, **fields):
    if "supplier_id" not in fields:  # a catalogue number belongs to a supplier
        fields.setdefault("catalogue_number", None)
    response = await materials.client.post("/v1/materials", json=MEDIUM | fields, headers=tokens.admin())
    assert response.status_code == 201, response.text
    return response.json()["material_id"]


async def lot(materials, tokens, facility_id, material_id, quantity, *, number=None, expires_in_days=365, unit="mL"):
    body = {
        "material_id": material_id,
        "lot_number": number or f"L-{uuid.uuid4().hex[:6]}",
        "expires_on": (datetime.now(UTC).date() + timedelta(days=expires_in_days)).isoformat(),
        "quantity": str(quantity),
        "unit": unit,
    }
    response = await materials.client.post(
        f"/v1/facilities/{facility_id}/lots", json=body, headers=tokens.facility(facility_id)
    )
    assert response.status_code == 201, response.text
    return response.json()["lot_id"]


def booking(facility_id, needs, *, version=2, status="confirmed", starts_in_days=30, booking_id=None) -> BookingState:
    starts = datetime.now(UTC) + timedelta(days=starts_in_days)
    return BookingState(
        booking_id=booking_id or uuid.uuid4(), version=version, status=status, org_id="ORG-1",
        facility_id=facility_id, suite_id=uuid.uuid4(), slot_ids=[uuid.uuid4()], starts_at=starts,
        ends_at=starts + timedelta(days=2), product="CAR-T batch", run_kind="engineering",
        material_needs=[MaterialNeed(material_id=m, quantity=Decimal(str(q)), unit=u) for m, q, u in needs],
    )  # fmt: skip


async def scheduling_caught_up(materials, scheduling):
    """Wait until scheduling has handled every materials event it follows: a test that ends with
    them in flight leaves scheduling's consumer locking rows while the next test's clean-up
    truncates its tables (a deadlock)."""
    followed = {cls.type for cls in scheduling_follows(scheduling.context.settings) if cls.service() == "materials"}
    emitted = {e["id"] for e in await materials.outbox_events() if e["type"] in followed}

    async def handled():
        rows = await scheduling.sql("SELECT event_id FROM processed_event")
        assert emitted <= {event_id for (event_id,) in rows}, "scheduling is still consuming"
        return True

    await eventually(handled, timeout=20.0)

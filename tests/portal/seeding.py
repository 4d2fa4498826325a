"""Demo data for the browser tests, made through the in-process services' public APIs as
`gmp-hub seed` makes it in a running hub: certified facilities with a suite, stock and capacity,
a small catalogue with an alternative named, an approved platform approval of ORG-1."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from devtools import seed as demo
from tests.support import RunningService, Tokens

# The demo's first two facilities and materials (`gmp-hub seed`), and an alternative to name.
FACILITIES = demo.FACILITIES[:2]
MATERIALS = [
    *demo.MATERIALS[:2],
    {"name": "CellGenix GMP SCGM", "category": "cell_culture_medium", "catalogue_number": "20802-0500",
     "grade": "gmp", "usp1043_tier": 1, "origin": "animal_origin_free"},
]  # fmt: skip


@dataclass
class Seeded:
    facilities: list[str] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)
    materials: dict[str, str] = field(default_factory=dict)  # name -> id
    approval: str | None = None


async def created(service: RunningService, path: str, body: dict, headers: dict, expect: int = 201) -> dict:
    response = await service.client.post(path, json=body, headers=headers)
    assert response.status_code == expect, f"{service.name} {path}: {response.status_code} {response.text}"
    return response.json()


def next_monday() -> datetime:
    today = date.today()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime.combine(monday, datetime.min.time(), UTC)


async def publish(scheduling: RunningService, facility_id: str, body: dict, headers: dict) -> list[dict]:
    """Once scheduling has learnt of the certificate from registry's events."""
    for _ in range(200):
        response = await scheduling.client.post(f"/v1/facilities/{facility_id}/capacity", json=body, headers=headers)
        if response.status_code == 201:
            return response.json()["slots"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"scheduling refused capacity: {response.status_code} {response.text}")


async def seed(hub: dict[str, RunningService], tokens: Tokens, weeks: int = 3) -> Seeded:
    registry, materials, scheduling, approvals = (hub[s] for s in ("registry", "materials", "scheduling", "approvals"))
    admin, seeded = tokens.admin(), Seeded()
    supplier = await created(materials, "/v1/suppliers",
                             {"name": "Miltenyi Biotec", "country": "DE", "qualification_status": "qualified"}, admin)  # fmt: skip
    for spec in MATERIALS:
        body = spec | {"supplier_id": supplier["supplier_id"]}
        seeded.materials[spec["name"]] = (await created(materials, "/v1/materials", body, admin))["material_id"]
    await materials.client.put(
        f"/v1/materials/{seeded.materials['TexMACS GMP Medium']}/alternatives",
        json={"alternative_id": seeded.materials["CellGenix GMP SCGM"], "note": "Serum-free, same use"},
        headers=admin,
    )
    today = date.today()
    for spec in FACILITIES:
        profile = {k: v for k, v in spec.items() if k not in ("authority", "suite")}
        profile |= {"contact_email": "qa@gmp.example.org", "authorisation_number": f"{spec['country']}-MIA-0001",
                    "authorisation_authority": spec["authority"]}  # fmt: skip
        facility_id = (await created(registry, "/v1/facilities", profile, admin))["facility_id"]
        facility = tokens.facility(facility_id)
        suite = await created(registry, f"/v1/facilities/{facility_id}/suites", spec["suite"], facility)
        certificate = await created(
            registry, f"/v1/facilities/{facility_id}/certificates",
            {"number": f"{spec['authority']}-GMP-{today.year}-{facility_id[:4]}",
             "issued_on": str(today - timedelta(days=60)), "expires_on": str(today + timedelta(days=3 * 365)),
             "atmp_types": spec["suite"]["atmp_types"], "operations": ["aseptic_manufacture"]},
            tokens.regulator(spec["authority"]),
        )  # fmt: skip
        for material_id in seeded.materials.values():
            await created(materials, f"/v1/facilities/{facility_id}/lots",
                          {"material_id": material_id, "lot_number": f"DEMO-{material_id[:6]}",
                           "expires_on": str(today + timedelta(days=400)), "quantity": "5000", "unit": "mL"},
                          facility)  # fmt: skip
        first = next_monday().replace(hour=8)
        weekly = {"starts_at": first.isoformat(), "ends_at": (first + timedelta(days=4, hours=9)).isoformat(),
                  "until": str(first.date() + timedelta(weeks=weeks - 1))}  # fmt: skip
        await publish(scheduling, facility_id, {"suite_id": suite["suite_id"], "weekly": weekly}, facility)
        seeded.facilities.append(facility_id)
        seeded.suites.append(suite["suite_id"])
        seeded.certificates.append(certificate["certificate_id"])
    developer, regulator = tokens.developer(), tokens.regulator("DE-PEI")
    approval = await created(approvals, "/v1/approvals",
                             {"level": "parent", "covers": "platform", "title": "CD19 CAR-T manufacturing platform",
                              "authority": "DE-PEI", "facility_ids": [seeded.facilities[0]]}, developer)  # fmt: skip
    path = f"/v1/approvals/{approval['approval_id']}"
    await created(approvals, f"{path}/submit", {}, developer, expect=200)
    await created(approvals, f"{path}/review", {}, regulator, expect=200)
    await created(approvals, f"{path}/decision", {"outcome": "approved", "meaning": "Approved by DE-PEI",
                  "reason": "Platform process validated"}, regulator, expect=200)  # fmt: skip
    seeded.approval = approval["approval_id"]
    return seeded

"""What the loads need, made through the public APIs as a facility and the hub operator would:
certified facilities with suites in registry, then capacity published on them in scheduling once
scheduling has learnt of them from registry's events."""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from benchmarks.system.http import Api
from shared.authorities import competent_authorities

COUNTRIES = ["DE", "FR", "NL", "IT", "ES", "BE", "AT", "SE", "DK", "PL"]
GRADES = ["A", "B", "C", "D"]
ATMP_TYPES = ["gene_therapy", "somatic_cell_therapy", "tissue_engineered", "combined"]
PROCESSES = ["car_t", "aav", "lentiviral_vector", "msc_expansion", "fill_finish"]
MAX_SLOTS_PER_PUBLICATION = 5000  # scheduling refuses more in one request


def authority(country: str) -> str:
    """The first of the country's own authorities: GMP certificates come from the state's own
    (the registry's competent-authority rule)."""
    return competent_authorities(country)[0]


async def facility(registry: Api, name: str, country: str) -> str:
    body = {"legal_name": name, "kind": "cdmo", "country": country, "city": "Benchville", "address": "1 Bench Road",
            "contact_email": "qa@gmp.example.org", "authorisation_number": f"{country}-MIA-{name}",
            "authorisation_authority": authority(country)}  # fmt: skip
    return (await registry.call("POST", "/v1/facilities", body, expect=201)).json()["facility_id"]


def suite_spec(i: int) -> dict:
    """The i-th suite's capabilities: grades, ATMP types and processes spread evenly."""
    return {"name": f"Suite {i}", "cleanroom_grade": GRADES[i % 4], "atmp_types": [ATMP_TYPES[i % 4]],
            "processes": [PROCESSES[i % 5], PROCESSES[(i + 2) % 5]]}  # fmt: skip


async def suite(registry: Api, facility_id: str, i: int) -> str:
    path = f"/v1/facilities/{facility_id}/suites"
    return (await registry.call("POST", path, suite_spec(i), expect=201)).json()["suite_id"]


async def certify(registry: Api, facility_id: str, country: str) -> None:
    today = datetime.now(UTC).date()
    body = {"number": f"GMP-{facility_id[:8]}", "issued_on": str(today - timedelta(days=30)),
            "expires_on": str(today + timedelta(days=3 * 365)), "atmp_types": ATMP_TYPES,
            "operations": ["aseptic_manufacture"], "authority": authority(country)}  # fmt: skip
    await registry.call("POST", f"/v1/facilities/{facility_id}/certificates", body, expect=201)


async def bookable_in_scheduling(scheduling_db: asyncpg.Connection, suite_ids: list[str], timeout: float = 60) -> None:
    """Wait until scheduling's read models hold these suites on certified facilities."""
    deadline = time.monotonic() + timeout
    query = """SELECT count(*) FROM suite_view s WHERE suite_id = ANY($1::uuid[]) AND EXISTS
               (SELECT 1 FROM certificate_view c WHERE c.facility_id = s.facility_id AND c.status = 'valid')"""
    while await scheduling_db.fetchval(query, suite_ids) < len(suite_ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"scheduling did not learn of {len(suite_ids)} suites within {timeout:.0f}s")
        await asyncio.sleep(0.05)


@dataclass
class Suite:
    """A certified suite known to scheduling, and where its next published slot starts."""

    facility_id: str
    suite_id: str
    next_start: datetime

    async def publish(self, scheduling: Api, count: int, minutes: int = 60, gap: int = 0) -> list[str]:
        """Publish `count` back-to-back slots through the capacity API; return their ids."""
        slot_ids: list[str] = []
        while len(slot_ids) < count:
            n = min(count - len(slot_ids), MAX_SLOTS_PER_PUBLICATION)
            end = self.next_start + timedelta(minutes=(minutes + gap) * n - gap)
            window = {"starts_at": self.next_start.isoformat(), "ends_at": end.isoformat(),
                      "slot_minutes": minutes, "gap_minutes": gap}  # fmt: skip
            body = {"suite_id": self.suite_id, "window": window}
            answer = await scheduling.call("POST", f"/v1/facilities/{self.facility_id}/capacity", body, expect=201)
            slot_ids += [s["slot_id"] for s in answer.json()["slots"]]
            self.next_start = end + timedelta(minutes=gap)
        return slot_ids


async def certified_suites(
    registry: Api, scheduling_db: asyncpg.Connection, facilities: int, suites_each: int, name: str
) -> list[Suite]:
    """`facilities` certified facilities (countries in turn) with `suites_each` suites, known to scheduling."""
    first_slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    suites = []
    for f in range(facilities):
        country = COUNTRIES[f % len(COUNTRIES)]
        facility_id = await facility(registry, f"{name} {f}", country)
        await certify(registry, facility_id, country)
        for s in range(suites_each):
            suite_id = await suite(registry, facility_id, f * suites_each + s)
            suites.append(Suite(facility_id, suite_id, first_slot))
    await bookable_in_scheduling(scheduling_db, [s.suite_id for s in suites])
    return suites

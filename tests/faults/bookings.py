"""The scenario every fault test plays, through the public HTTP APIs only: a certified facility with
one suite, two lots of a GMP medium, a slot per booking, and developers holding and confirming
bookings that each need a little of the medium. The stock covers 80 of every 100 bookings, so the
saga ends both ways: `confirmed` (materials reserved) and `materials_short`."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx

from tests.faults.harness import HubAddress
from tests.support import Tokens, eventually

BOOKINGS = 100  # per test, each on a slot of its own
NEED_ML = Decimal(10)
LOTS_ML = (Decimal(405), Decimal(400))  # 80 bookings' worth, and 5 mL left over that no booking can use
DEVELOPER_ORG = "ORG-FAULTS"


@dataclass
class Site:
    facility_id: str
    suite_id: str
    material_id: str
    lot_ids: list[str]
    slot_ids: list[str]

    @property
    def bookings_the_stock_covers(self) -> int:
        return int(sum(LOTS_ML) // NEED_ML)


@dataclass
class Answer:
    """One HTTP exchange as the client saw it; `status` None when no answer came."""

    sent: float
    answered: float
    method: str
    path: str
    status: int | None
    retry_after: str | None = None
    error: str | None = None  # why no answer came


@dataclass
class HubClient:
    """A client of the hub's public APIs that keeps every answer it got (or did not get), and
    confirms bookings through any fault: a confirmation that got no answer, or a 5xx, is tried again
    once the hub answers."""

    address: HubAddress
    answers: list[Answer] = field(default_factory=list, repr=False)
    confirmed: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.tokens = Tokens(self.address.settings)
        self.http = httpx.AsyncClient(timeout=15.0)

    async def __aenter__(self) -> "HubClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    def developer(self) -> dict[str, str]:
        return self.tokens.developer(DEVELOPER_ORG, sub="dev-faults")

    async def call(self, method: str, service: str, path: str, **kwargs) -> httpx.Response:
        sent = time.monotonic()
        try:
            response = await self.http.request(method, f"{self.address.urls[service]}{path}", **kwargs)
        except httpx.TransportError as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.answers.append(Answer(sent, time.monotonic(), method, path, None, error=error))
            raise
        self.answers.append(
            Answer(sent, time.monotonic(), method, path, response.status_code, response.headers.get("Retry-After"))
        )
        return response

    async def created(self, service: str, path: str, body: dict, headers: dict[str, str]) -> dict:
        response = await self.call("POST", service, path, json=body, headers=headers)
        assert response.status_code == 201, f"{service} {path}: {response.status_code} {response.text}"
        return response.json()

    # --- the scenario ---------------------------------------------------------------------------

    async def certified_site(self, slots: int) -> Site:
        """A facility with a suite and a valid certificate (registry), two lots of a medium (materials),
        and `slots` one-hour slots a week from now (scheduling, once it has learnt of the certificate)."""
        admin, tag = self.tokens.admin(), uuid.uuid4().hex[:8]
        facility_id = (await self.created("registry", "/v1/facilities", {
            "legal_name": f"Fault-test GMP unit {tag}", "kind": "hospital", "country": "DE", "city": "Berlin",
            "address": "Augustenburger Platz 1", "contact_email": "qa@gmp.example.org",
            "authorisation_number": f"DE_BE_01_MIA_{tag}", "authorisation_authority": "DE-LAGeSo",
        }, admin))["facility_id"]  # fmt: skip
        facility = self.tokens.facility(facility_id)
        suite_id = (await self.created("registry", f"/v1/facilities/{facility_id}/suites", {
            "name": "Suite 2 (CAR-T)", "cleanroom_grade": "B", "atmp_types": ["somatic_cell_therapy"],
            "processes": ["car_t"],
        }, facility))["suite_id"]  # fmt: skip
        today = date.today()
        certificate_id = (await self.created("registry", f"/v1/facilities/{facility_id}/certificates", {
            "number": f"DE-PEI-GMP-{tag}", "issued_on": str(today - timedelta(days=30)),
            "expires_on": str(today + timedelta(days=900)), "atmp_types": ["somatic_cell_therapy"],
            "operations": ["aseptic_manufacture"],
        }, self.tokens.regulator("DE-PEI")))["certificate_id"]  # fmt: skip

        supplier_id = (await self.created("materials", "/v1/suppliers", {
            "name": f"Miltenyi Biotec {tag}", "country": "DE", "qualification_status": "qualified",
        }, admin))["supplier_id"]  # fmt: skip
        material_id = (await self.created("materials", "/v1/materials", {
            "name": f"TexMACS GMP Medium {tag}", "category": "cell_culture_medium", "grade": "gmp",
            "origin": "animal_origin_free", "catalogue_number": f"170-076-{tag}", "supplier_id": supplier_id,
        }, admin))["material_id"]  # fmt: skip
        lot_ids = [
            (
                await self.created(
                    "materials",
                    f"/v1/facilities/{facility_id}/lots",
                    {
                        "material_id": material_id,
                        "lot_number": f"L-{tag}-{n}",
                        "quantity": str(quantity),
                        "unit": "mL",
                        "expires_on": str(today + timedelta(days=200 + 100 * n)),  # the first lot is used up first
                    },
                    facility,
                )
            )["lot_id"]  # fmt: skip
            for n, quantity in enumerate(LOTS_ML)
        ]

        await self._scheduling_knows(suite_id, certificate_id)
        first = (datetime.now(UTC) + timedelta(days=7)).replace(hour=8, minute=0, second=0, microsecond=0)
        last = first + timedelta(hours=slots)
        window = {"starts_at": first.isoformat(), "ends_at": last.isoformat(), "slot_minutes": 60}
        capacity = await self.created(
            "scheduling", f"/v1/facilities/{facility_id}/capacity", {"suite_id": suite_id, "window": window}, facility
        )
        return Site(facility_id, suite_id, material_id, lot_ids, [s["slot_id"] for s in capacity["slots"]])

    async def _scheduling_knows(self, suite_id: str, certificate_id: str) -> None:
        """Scheduling learns of suites and certificates from registry's events, in its read model."""

        async def known() -> bool:
            conn = await asyncpg.connect(self.address.database_dsns["scheduling"])
            try:
                suite = await conn.fetchval("SELECT count(*) FROM suite_view WHERE suite_id = $1", uuid.UUID(suite_id))
                valid = await conn.fetchval(
                    "SELECT count(*) FROM certificate_view WHERE certificate_id = $1 AND status = 'valid'",
                    uuid.UUID(certificate_id),
                )
            finally:
                await conn.close()
            assert (suite, valid) == (1, 1), (
                f"scheduling's read model: suite {suite_id} {'known' if suite else 'unknown'}, "
                f"certificate {certificate_id} {'valid' if valid else 'unknown'} (from registry's events)"
            )
            return True

        await eventually(known, timeout=30, interval=0.1)

    async def hold_bookings(self, site: Site, count: int, workers: int = 4) -> list[str]:
        """`count` bookings of one slot each, held by the developer; each needs 10 mL of the medium."""
        need = {"material_id": site.material_id, "quantity": str(NEED_ML), "unit": "mL"}

        async def hold(slot_id: str) -> str:
            body = {"slot_ids": [slot_id], "product": "CAR-T CD19", "run_kind": "development", "material_needs": [need]}
            return (await self.created("scheduling", "/v1/bookings", body, self.developer()))["booking_id"]

        return await in_parallel([lambda s=s: hold(s) for s in site.slot_ids[:count]], workers)

    async def confirm_all(self, booking_ids: list[str], workers: int = 4) -> None:
        await in_parallel([lambda b=b: self.confirm(b) for b in booking_ids], workers)

    async def confirm(self, booking_id: str, give_up_after: float = 120.0) -> None:
        """Confirm once, whatever the fault. After an attempt without a clear answer, look first: a
        booking no longer simply held was confirmed by that attempt (and may have settled already;
        confirming a `materials_short` booking again would start a second saga)."""
        deadline = time.monotonic() + give_up_after
        path = f"/v1/bookings/{booking_id}"
        while True:
            try:
                response = await self.call("POST", "scheduling", f"{path}/confirm", headers=self.developer())
                if response.status_code == 200:
                    break
                assert response.status_code >= 500, f"confirming {booking_id}: {response.status_code} {response.text}"
            except httpx.TransportError:
                pass
            if await self._status_once_answered(path, deadline) != ("held", False):
                break
            await asyncio.sleep(0.2)
        self.confirmed.add(booking_id)

    async def _status_once_answered(self, path: str, deadline: float) -> tuple[str, bool]:
        """The booking's status and whether it awaits materials, asked until the hub can say."""
        while True:
            try:
                response = await self.call("GET", "scheduling", path, headers=self.developer())
                if response.status_code == 200:
                    booking = response.json()
                    return booking["status"], booking["awaiting_materials"]
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"no answer about {path} before the deadline"
            await asyncio.sleep(0.2)

    async def confirmations_reach(self, count: int, timeout: float = 60.0) -> None:
        async def reached() -> bool:
            return len(self.confirmed) >= count

        await eventually(reached, timeout=timeout, interval=0.02)


async def in_parallel(calls: list, workers: int) -> list:
    """Await the calls, at most `workers` at a time, in order of the list; results in that order."""
    gate = asyncio.Semaphore(workers)

    async def run(call):
        async with gate:
            return await call()

    return list(await asyncio.gather(*(run(c) for c in calls)))


@asynccontextmanager
async def in_background(work: Coroutine) -> AsyncIterator[asyncio.Task]:
    """Run `work` while the block injects a fault; cancelled if the block fails before awaiting it."""
    task = asyncio.create_task(work)
    try:
        yield task
    finally:
        task.cancel()

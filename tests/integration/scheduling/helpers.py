"""Building blocks of the scheduling tests: a certified facility fed through registry's outbox
(the real relay, broker and scheduling consumer carry it), slots, and bookings."""

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import sqlalchemy as sa

from services.registry import events as reg
from tests.support import RunningService, eventually


async def feed(service: RunningService, *events) -> None:
    """Emit events through a producing service's outbox, as that service would."""
    async with service.context.db.unit_of_work("test:feeder") as uow:
        uow.emit(*events)
        await uow.commit()


@dataclass
class Site:
    facility_id: uuid.UUID
    suite_id: uuid.UUID
    certificate: reg.CertificateState
    version: int = 3

    def next_version(self) -> int:
        self.version += 1
        return self.version


async def certified_site(
    registry: RunningService,
    scheduling: RunningService,
    *,
    country: str = "DE",
    grade: str = "B",
    atmp_types: tuple[str, ...] = ("gene_therapy",),
    processes: tuple[str, ...] = ("viral_vector_production",),
) -> Site:
    facility_id, suite_id = uuid.uuid4(), uuid.uuid4()
    facility = reg.FacilityState(
        facility_id=facility_id, version=1, legal_name=f"GMP unit {country} {grade}", kind="hospital",
        country=country, city="Berlin", address="Augustenburger Platz 1", contact_email="qa@gmp.example.org",
        authorisation_number="DE_BE_01_MIA_2024_0042", authorisation_authority="DE-LAGeSo",
    )  # fmt: skip
    suite = reg.SuiteState(
        suite_id=suite_id, facility_id=facility_id, name=f"Suite {grade}", cleanroom_grade=grade,
        atmp_types=list(atmp_types), processes=list(processes),
    )  # fmt: skip
    certificate = reg.CertificateState(
        certificate_id=uuid.uuid4(), facility_id=facility_id, number=f"DE-GMP-{uuid.uuid4().hex[:6]}",
        authority="DE-PEI", issued_on=date.today() - timedelta(days=30), expires_on=date.today() + timedelta(days=700),
        atmp_types=list(atmp_types), operations=["manufacture"], status="valid",
    )  # fmt: skip
    await feed(
        registry,
        reg.FacilityRegistered(facility_id=facility_id, version=1, facility=facility),
        reg.SuiteAdded(facility_id=facility_id, version=2, suite=suite),
        reg.CertificateIssued(facility_id=facility_id, version=3, certificate=certificate),
    )

    async def known():
        rows = await scheduling.sql(
            "SELECT 1 FROM certificate_view WHERE certificate_id = :c", c=certificate.certificate_id
        )
        return len(rows) == 1

    await eventually(known, timeout=5.0)
    return Site(facility_id, suite_id, certificate)


async def set_certificate(registry: RunningService, site: Site, event_class, status: str, reason: str | None = None):
    site.certificate = site.certificate.model_copy(update={"status": status, "reason": reason})
    await feed(
        registry, event_class(facility_id=site.facility_id, version=site.next_version(), certificate=site.certificate)
    )


def start(days: int = 7, hour: int = 8) -> datetime:
    base = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


async def publish(scheduling, tokens, site: Site, *, days: int = 7, count: int = 4, hours: int = 8) -> list[dict]:
    """Publish `count` consecutive slots of `hours` each, `days` from now."""
    first = start(days)
    body = {
        "suite_id": str(site.suite_id),
        "window": {
            "starts_at": first.isoformat(),
            "ends_at": (first + timedelta(hours=hours * count)).isoformat(),
            "slot_minutes": hours * 60,
        },
    }
    response = await scheduling.client.post(
        f"/v1/facilities/{site.facility_id}/capacity", json=body, headers=tokens.facility(site.facility_id)
    )
    assert response.status_code == 201, response.text
    return response.json()["slots"]


async def hold(scheduling, tokens, slot_ids, *, org: str = "ORG-1", run_kind: str = "development", **extra):
    body = {"slot_ids": [str(s) for s in slot_ids], "product": "CAR-T CD19", "run_kind": run_kind, **extra}
    return await scheduling.client.post("/v1/bookings", json=body, headers=tokens.developer(org))


async def certificate_seen(scheduling: RunningService, site: Site, status: str) -> None:
    async def seen():
        rows = await scheduling.sql(
            "SELECT status FROM certificate_view WHERE certificate_id = :c", c=site.certificate.certificate_id
        )
        return bool(rows) and rows[0].status == status

    await eventually(seen, timeout=5.0)


@asynccontextmanager
async def another_instance(settings, **overrides) -> AsyncIterator[httpx.AsyncClient]:
    """A second scheduling app on the same database and broker, with its own connection pool,
    outbox relay and jobs. It follows no events: its consumer joining and leaving the group would
    make the running instance's consumer rebalance, and stopping an aiokafka consumer mid-rebalance
    hangs (see the report); the events it would handle are the first instance's job here."""
    from services.scheduling.main import spec
    from shared.service import create_app

    app = create_app(dataclasses.replace(spec, consumes=lambda settings: {}), settings.model_copy(update=overrides))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scheduling-2") as client:
            yield client
        # Let the relay go idle before the app stops: on Python 3.11, cancelling the relay while its
        # outbox signal fires is swallowed by asyncio.wait_for, and the app never stops (see the report).
        await eventually(lambda: _outbox_drained(app), timeout=10.0)
        await asyncio.sleep(0.3)


async def _outbox_drained(app) -> bool:
    async with app.state.context.db.engine.connect() as conn:
        pending = await conn.scalar(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    return pending == 0


async def active_agreement(scheduling, tokens, facility_id, *, org: str = "ORG-1", **terms) -> dict:
    """A technical agreement between the organisation and the facility covering clinical runs for two
    years, drafted by the organisation and signed by both sides: what a clinical run's confirmation needs."""
    body = {"facility_id": str(facility_id), "title": "Quality agreement: CAR-T CD19 clinical supply",
            "run_kinds": ["clinical"], "valid_from": str(date.today() - timedelta(days=1)),
            "valid_until": str(date.today() + timedelta(days=730)), **terms}  # fmt: skip
    drafted = await scheduling.client.post("/v1/agreements", json=body, headers=tokens.developer(org))
    assert drafted.status_code == 201, drafted.text
    path = f"/v1/agreements/{drafted.json()['agreement_id']}/sign"
    for side, headers in (
        ("contract_giver", tokens.developer(org)),
        ("contract_acceptor", tokens.facility(facility_id)),
    ):
        signed = await scheduling.client.post(
            path, json={"side": side, "meaning": f"Agreed as {side}", "reason": "Terms reviewed by QA"}, headers=headers
        )
        assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "active"
    return signed.json()


def request_body(*facility_ids, batches: int = 2, run_kind: str = "development", **fields) -> dict:
    """A manufacturing request for `batches` batches over the next two months."""
    return {"facility_ids": [str(f) for f in facility_ids], "product": "CAR-T CD19", "atmp_type": "gene_therapy",
            "process": "viral_vector_production", "batches": batches, "batch_days": 1,
            "earliest_start": str(date.today()), "latest_end": str(date.today() + timedelta(days=60)),
            "run_kind": run_kind, "needs": "Closed-system processing; QP release on site.",
            "attachments": [{"title": "Process description v3", "url": "https://docs.example.org/cd19-process.pdf",
                             "sha256": "ab" * 32}], **fields}  # fmt: skip


async def send_request(scheduling, tokens, *facility_ids, org: str = "ORG-1", **fields) -> dict:
    response = await scheduling.client.post(
        "/v1/requests", json=request_body(*facility_ids, **fields), headers=tokens.developer(org)
    )
    assert response.status_code == 201, response.text
    return response.json()


def quote_body(slot_ids, **fields) -> dict:
    """Terms for the given slots: 48,000.00 EUR a batch and one extra, valid for a week."""
    valid_until = datetime.now(UTC) + timedelta(days=7)
    return {"slot_ids": [str(s) for s in slot_ids], "currency": "EUR", "price_per_batch": "48000.00",
            "extras": [{"label": "Release testing", "amount": "3500.50"}], "conditions": "50% on acceptance",
            "valid_until": valid_until.isoformat(), **fields}  # fmt: skip


async def send_quote(scheduling, tokens, request: dict, facility_id, slot_ids, **fields):
    return await scheduling.client.post(
        f"/v1/requests/{request['request_id']}/quotes", json=quote_body(slot_ids, **fields),
        headers=tokens.facility(facility_id),
    )  # fmt: skip


async def slot_states(scheduling, slot_ids) -> dict[str, tuple]:
    """Each slot's status and the quote and booking holding it."""
    rows = await scheduling.sql(
        "SELECT id::text AS id, status, quote_id::text AS q, booking_id::text AS b FROM slot WHERE id = ANY(:ids)",
        ids=[uuid.UUID(str(s)) for s in slot_ids],
    )
    return {r.id: (r.status, r.q, r.b) for r in rows}

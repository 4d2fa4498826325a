"""What the event history's hash chain costs (shared/chain.py), on throw-away embedded PostgreSQL
databases:

1. `POST /v1/bookings` through the scheduling app in this process (as `bench_hold`), with the
   outbox relay's database work beside it (there is no broker here: a loop woken by every commit,
   as the relay is, that in one transaction takes the relay's lock, reads the unpublished rows,
   marks them published and counts the backlog), in rounds alternating without and with the
   service's chain job running too. Holds per second of each round and the medians.
2. Chaining and `audit verify` on an outbox of real envelopes (default 100,000 rows): rows per
   second of each.

Run: `python -m benchmarks.audit [rows] [holds per round] [rounds]`."""

import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import sqlalchemy as sa

from benchmarks.scheduling.bench_hold import SEED
from benchmarks.throwaway import service_database
from services.registry.events import FacilityRegistered, FacilityState
from services.scheduling.main import spec
from shared.audit import chain_job, verify
from shared.auth import Role, issue_token
from shared.chain import extend_chain
from shared.database import Database, mark_published, outbox
from shared.events import Envelope
from shared.outbox import RELAY_LOCK
from shared.service import ServiceContext, create_app
from shared.settings import get_settings

CLIENTS = 32
BATCH = 200  # GMPHUB_OUTBOX_BATCH_SIZE's default


async def relay(db: Database, stop: asyncio.Event) -> None:
    """The relay's database work (shared/outbox.py's batch without the broker)."""
    while not stop.is_set():
        ticket = db.new_events.ticket()
        async with db.sessions() as session, session.begin():
            await session.execute(RELAY_LOCK)
            query = sa.select(outbox.c.seq).where(outbox.c.published_at.is_(None)).order_by(outbox.c.seq).limit(BATCH)
            published = list(await session.scalars(query))
            if published:
                await mark_published(session, published)
            await session.scalar(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))
        if len(published) < BATCH:
            await db.new_events.wait(0.5, ticket)


async def holds_per_second(url: str, holds: int, rounds: int) -> None:
    os.environ["GMPHUB_DATA_DIR"] = tempfile.mkdtemp()  # its own development keys
    # One token holding as fast as it can: rate limits counted, never reached.
    os.environ["GMPHUB_RATE_LIMIT_PER_PRINCIPAL"] = os.environ["GMPHUB_RATE_LIMIT_BOOKINGS"] = "100000000/minute"
    settings = get_settings()
    db = Database(url, pool_size=CLIENTS + 2, unit_of_work=spec.unit_of_work)
    facility, suite = uuid.uuid4(), uuid.uuid4()
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=7)
    total = 50 + holds * rounds * 2
    async with db.engine.begin() as conn:
        for statement in SEED.split(";\n"):
            await conn.execute(sa.text(statement), {"facility": facility, "suite": suite, "first": first,
                                                    "slots": total, "expires": date.today() + timedelta(days=700)})  # fmt: skip
        slot_ids = [str(i) for i in await conn.scalars(sa.text("SELECT id FROM slot ORDER BY starts_at"))]
    app = create_app(spec, settings)
    app.state.context = ServiceContext("scheduling", spec.settings(**settings.model_dump()), db, None)  # type: ignore[arg-type]
    token = issue_token(settings, role=Role.DEVELOPER, org_id="ORG-BENCH")
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scheduling",
                               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    body = {"product": "CAR-T CD19 autologous", "run_kind": "development"}
    slots = iter(slot_ids)

    async def hold(count: int) -> float:
        pending = iter([next(slots) for _ in range(count)])

        async def holder() -> None:
            for slot_id in pending:
                answer = await client.post("/v1/bookings", json=body | {"slot_ids": [slot_id]})
                assert answer.status_code == 201, answer.text

        started = time.perf_counter()
        await asyncio.gather(*(holder() for _ in range(CLIENTS)))
        return count / (time.perf_counter() - started)

    await hold(50)  # warm up: first compilations, the pool's connections
    figures: dict[str, list[float]] = {"without": [], "with": []}
    for n in range(rounds):
        for variant in ("without", "with") if n % 2 == 0 else ("with", "without"):
            async with db.sessions() as session, session.begin():  # each round starts from a chained outbox
                while await extend_chain(session):
                    pass
            stop = asyncio.Event()
            relaying = asyncio.create_task(relay(db, stop))
            chaining = asyncio.create_task(chain_job(db, settings)) if variant == "with" else None
            figures[variant].append(await hold(holds))
            stop.set()
            db.new_events.ring()
            await relaying
            if chaining:
                chaining.cancel()
            async with db.engine.connect() as conn:
                chained = await conn.scalar(sa.select(sa.func.count(outbox.c.chain_seq)))
            print(f"round {n + 1}, {variant} the chain job: {figures[variant][-1]:.0f} holds/s "
                  f"({chained} rows chained in all)", flush=True)  # fmt: skip
    without, with_ = statistics.median(figures["without"]), statistics.median(figures["with"])
    print(f"holds/s, {holds} per round from {CLIENTS} clients, medians of {rounds}: without the chain job "
          f"{without:.0f}, with it {with_:.0f} ({(with_ / without - 1) * 100:+.1f} %)")  # fmt: skip
    await client.aclose()
    await db.dispose()


async def verify_rows_per_second(url: str, rows: int) -> None:
    db = Database(url)
    facility_id = uuid.uuid4()
    state = FacilityState(facility_id=facility_id, version=1, legal_name="Charité GMP Unit", kind="hospital",
                          country="DE", city="Berlin", address="Augustenburger Platz 1",
                          contact_email="qa@gmp.example.org", authorisation_number="DE_BE_01_MIA_2024_0042",
                          authorisation_authority="DE-LAGeSo")  # fmt: skip
    event = FacilityRegistered(facility_id=facility_id, version=1, facility=state)
    envelope = json.loads(Envelope.wrap(event, actor="admin:bench", correlation_id="c").model_dump_json())
    async with db.engine.begin() as conn:  # real envelopes, each with its own id and subject
        await conn.execute(
            sa.text("INSERT INTO outbox (event_id, topic, key, type, envelope) SELECT id, 'gmphub.registry.v1',"
                    " id::text, :type, jsonb_set(jsonb_set(CAST(:envelope AS jsonb), '{id}', to_jsonb(id::text)),"
                    " '{subject}', to_jsonb(id::text)) FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, :rows)) r"),
            {"type": envelope["type"], "envelope": json.dumps(envelope), "rows": rows},
        )  # fmt: skip
    started = time.perf_counter()
    chained = 0
    async with db.sessions() as session, session.begin():
        while done := await extend_chain(session):
            chained += done
    chaining = time.perf_counter() - started
    await db.dispose()
    started = time.perf_counter()
    report = await verify("registry", url)
    verifying = time.perf_counter() - started
    assert report.broken is None and report.checked == rows, report
    size = len(json.dumps(envelope))
    print(f"{rows} outbox rows (envelopes of about {size} bytes): chained at {chained / chaining:,.0f} rows/s "
          f"({chaining:.1f} s); audit verify {report.checked / verifying:,.0f} rows/s ({verifying:.1f} s)")  # fmt: skip


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    holds = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with service_database("scheduling") as url:
        asyncio.run(holds_per_second(url, holds, rounds))
    with service_database("registry") as url:
        asyncio.run(verify_rows_per_second(url, rows))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()

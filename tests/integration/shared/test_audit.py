"""The event history's chain in a real database: the migration chains the rows already there, the
append-only rule refuses changes and deletions (naming itself), and a chain rewritten whole by a
superuser passes on its own but fails against the anchors a regulator kept in a file."""

import asyncio
import json

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import DBAPIError

from shared.audit import anchor, anchor_job, anchor_type, chain_job, verify
from shared.chain import GENESIS, extend_chain, link
from shared.cli import main
from shared.database import Database, outbox
from shared.migrations import alembic_config, upgrade
from tests.integration.shared.events import facility_registered
from tests.support import eventually

BEFORE_CHAIN = "a7c3e915d2b8"  # registry's revision before the chain
SET_ASIDE = sa.text("SET LOCAL session_replication_role = replica")  # a superuser's way past triggers


@pytest.fixture
async def registry_db(scratch_database):
    url = await scratch_database("registry")
    db = Database(url)
    yield url, db
    await db.dispose()


async def emit(db: Database, count: int) -> None:
    for _ in range(count):
        async with db.unit_of_work("test:audit") as uow:
            uow.emit(facility_registered())
            await uow.commit()


async def chain_now(db: Database) -> int:
    async with db.sessions() as session, session.begin():
        return await extend_chain(session)


async def rows(db: Database) -> list[sa.Row]:
    async with db.engine.connect() as conn:
        query = sa.select(outbox.c.seq, outbox.c.chain_seq, outbox.c.chain_hash, sa.cast(outbox.c.envelope, sa.Text))
        return list(await conn.execute(query.order_by(outbox.c.seq)))


async def test_the_migration_chains_the_rows_already_there_in_seq_order(registry_db):
    url, db = registry_db
    await asyncio.to_thread(command.downgrade, alembic_config("registry", url), BEFORE_CHAIN)
    await emit(db, 5)  # written before the chain existed
    await asyncio.to_thread(upgrade, "registry", url)

    chained = await rows(db)
    assert [r.chain_seq for r in chained] == [1, 2, 3, 4, 5]
    previous = GENESIS
    for row in chained:
        previous = link(previous, row.envelope)
        assert row.chain_hash == previous
    report = await verify("registry", url)
    assert (report.checked, report.unchained, report.broken) == (5, 0, None)


async def test_rows_are_written_unchained_and_chained_once_after_commit(registry_db):
    url, db = registry_db
    await emit(db, 3)
    assert [r.chain_seq for r in await rows(db)] == [None, None, None]
    assert (await verify("registry", url)).unchained == 3
    assert await chain_now(db) == 3
    await emit(db, 1)
    assert await chain_now(db) == 1
    assert await chain_now(db) == 0
    report = await verify("registry", url)
    assert (report.checked, report.unchained, report.broken) == (4, 0, None)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE outbox SET envelope = jsonb_set(envelope, '{actor}', '\"admin:someone-else\"') WHERE seq = 1",
        "UPDATE outbox SET created_at = now() - interval '1 year' WHERE seq = 1",
        "UPDATE outbox SET chain_hash = '\\x00'::bytea WHERE seq = 1",
        "UPDATE outbox SET chain_seq = 7 WHERE seq = 1",
        "DELETE FROM outbox WHERE seq = 1",
    ],
)
async def test_the_append_only_rule_refuses_changes_and_deletions_naming_itself(registry_db, statement):
    url, db = registry_db
    await emit(db, 1)
    await chain_now(db)
    with pytest.raises(DBAPIError) as refused:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text(statement))
    assert "outbox_append_only" in str(refused.value)
    assert f"{statement.split()[0]} of outbox row 1" in str(refused.value)
    assert (await verify("registry", url)).broken is None


async def test_the_relay_may_mark_published_and_unpublished(registry_db):
    url, db = registry_db
    await emit(db, 1)
    await chain_now(db)
    async with db.engine.begin() as conn:
        await conn.execute(sa.update(outbox).values(published_at=sa.func.now()))
        await conn.execute(sa.update(outbox).values(published_at=None))  # a replaced broker gets it again
    assert (await verify("registry", url)).checked == 1


async def test_a_chain_rewritten_whole_fails_against_the_anchors_kept_in_a_file(
    registry_db, monkeypatch, tmp_path, capsys
):
    url, db = registry_db
    await emit(db, 3)
    async with db.unit_of_work("test:audit") as uow:  # chains the three, anchors at 3
        first = await anchor(uow, "registry")
        await uow.commit()
    await emit(db, 2)
    async with db.unit_of_work("test:audit") as uow:  # chains the anchor and the two, anchors at 6
        second = await anchor(uow, "registry")
        await uow.commit()
    await chain_now(db)
    assert (first.chain_seq, second.chain_seq) == (3, 6)
    async with db.engine.connect() as conn:  # what a regulator kept: the anchor events as published
        kept = await conn.scalars(sa.select(outbox.c.envelope).where(outbox.c.type == anchor_type("registry")))
        (tmp_path / "anchors.jsonl").write_text("".join(json.dumps(e) + "\n" for e in kept))
    monkeypatch.setenv("GMPHUB_REGISTRY_DATABASE_URL", url)

    assert (
        await asyncio.to_thread(main, ["audit", "verify", "registry", "--anchors", str(tmp_path / "anchors.jsonl")])
        == 0
    )
    assert "registry: 7 rows checked, 0 not yet chained, 2 anchor(s) matched: ok" in capsys.readouterr().out

    # A superuser changes the fifth row and recomputes every hash from there: consistent in itself.
    async with db.engine.begin() as conn:
        await conn.execute(SET_ASIDE)
        await conn.execute(sa.text("UPDATE outbox SET envelope = jsonb_set(envelope, '{actor}', '\"admin:nobody\"')"
                                   " WHERE chain_seq = 5"))  # fmt: skip
        chained = (
            await conn.execute(sa.text("SELECT seq, envelope::text AS envelope FROM outbox ORDER BY chain_seq"))
        ).all()
        previous = GENESIS
        for row in chained:
            previous = link(previous, row.envelope)
            await conn.execute(
                sa.text("UPDATE outbox SET chain_hash = :h WHERE seq = :seq"), {"h": previous, "seq": row.seq}
            )

    assert await asyncio.to_thread(main, ["audit", "verify", "registry"]) == 0
    assert "registry: 7 rows checked" in capsys.readouterr().out
    assert (
        await asyncio.to_thread(main, ["audit", "verify", "registry", "--anchors", str(tmp_path / "anchors.jsonl")])
        == 1
    )
    out = capsys.readouterr().out
    assert "registry: BROKEN at chain_seq 6 " in out
    assert f"the anchor of {second.anchored_at.isoformat().replace('+00:00', 'Z')} holds {second.chain_hash}" in out
    assert "the chain was rewritten between chain_seq 4 and here" in out


async def anchored(db: Database, due_after: float | None) -> int | None:
    async with db.unit_of_work("service:registry-audit") as uow:
        event = await anchor(uow, "registry", due_after=due_after)
        await uow.commit()
    return event and event.chain_seq


async def test_an_anchor_is_due_an_interval_after_the_last_and_only_if_the_chain_grew(registry_db):
    url, db = registry_db
    assert await anchored(db, due_after=0) is None  # an empty chain: nothing to anchor
    await emit(db, 2)
    await chain_now(db)
    assert await anchored(db, due_after=3600) is None  # the chain began moments ago
    assert await anchored(db, due_after=0) == 2
    await chain_now(db)  # the anchor itself is chained at 3
    assert await anchored(db, due_after=0) is None  # nothing new but the anchor
    await emit(db, 1)
    await chain_now(db)
    assert await anchored(db, due_after=3600) is None  # the last anchor is moments old
    assert await anchored(db, due_after=0) == 4
    report = await verify("registry", url)
    assert (report.checked, report.broken) == (4, None)


async def test_the_chain_job_works_through_a_backlog_round_after_round_then_waits(registry_db, settings):
    url, db = registry_db
    await emit(db, 5)
    # A round that is not full waits an hour.
    job = asyncio.create_task(chain_job(db, settings.model_copy(update={"outbox_batch_size": 2}), every=3600.0))
    try:

        async def all_chained() -> bool:  # rounds of 2, 2 and 1: no wait between full rounds
            assert [r.chain_seq for r in await rows(db)] == [1, 2, 3, 4, 5]
            return True

        await eventually(all_chained, timeout=5.0)
        await emit(db, 1)
        await asyncio.sleep(0.5)
        assert [r.chain_seq for r in await rows(db)][-1] is None  # after a short round, it waits
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)


async def test_the_anchor_job_anchors_once_when_due_and_not_again_while_nothing_is_new(registry_db, settings):
    url, db = registry_db
    await emit(db, 2)
    await chain_now(db)
    job = asyncio.create_task(
        anchor_job(db, "registry", settings.model_copy(update={"audit_anchor_interval_seconds": 0.05}))
    )
    try:
        await asyncio.sleep(1.0)  # some twenty rounds
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
    async with db.engine.connect() as conn:
        anchors = list(await conn.scalars(sa.select(outbox.c.envelope).where(outbox.c.type == anchor_type("registry"))))
    assert [(a["data"]["service"], a["data"]["chain_seq"], a["actor"]) for a in anchors] == [
        ("registry", 2, "service:registry-audit")
    ]


async def test_an_inspector_reads_a_service_s_chain_checked_over_http_and_a_developer_does_not(registry, tokens):
    from tests.integration.registry.helpers import FACILITY

    created = await registry.client.post("/v1/facilities", json=FACILITY, headers=tokens.admin())
    assert created.status_code == 201, created.text
    refused = await registry.client.get("/ops/audit", headers=tokens.developer())
    assert refused.status_code == 403, refused.text

    async def chained() -> dict:
        answer = await registry.client.get("/ops/audit", headers=tokens.regulator())
        assert answer.status_code == 200, answer.text
        assert answer.json()["unchained"] == 0  # the chain job chains after commit
        return answer.json()

    report = await eventually(chained, timeout=5.0)
    assert (report["service"], report["ok"], report["broken"]) == ("registry", True, None)
    assert report["checked"] >= 1 and report["summary"].endswith(": ok")

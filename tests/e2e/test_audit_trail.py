"""The audit trail after a real flow across the four services (a certified facility, capacity,
stock, a platform approval decided, a booking confirmed through the materials saga): every service's chain verifies; a row
changed, deleted or forged by a superuser is named by `gmp-hub audit verify`; the anchors read
back from the topics check the chains, and catch a chain rewritten whole."""

import asyncio
import json
import uuid

import pytest
import sqlalchemy as sa

from shared.chain import GENESIS, link
from shared.cli import main
from shared.settings import SERVICES
from tests.e2e.test_key_flows import booking_status, certified_facility, ok, publish_capacity, stock  # noqa: F401
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def as_superuser(service, statement: str, **params) -> None:
    """A statement with the triggers set aside, as a superuser may: past the append-only rule."""
    async with service.context.db.engine.begin() as conn:
        await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        await conn.execute(sa.text(statement), params)


@pytest.fixture
async def confirmed_booking(certified_facility, clean_hub, tokens):  # noqa: F811
    scheduling, materials, approvals = clean_hub["scheduling"], clean_hub["materials"], clean_hub["approvals"]
    facility_id, suite_id, _ = certified_facility
    developer, regulator = tokens.developer(), tokens.regulator("DE-PEI")
    filed = {"level": "parent", "covers": "platform", "title": "CD19 CAR-T platform", "authority": "DE-PEI",
             "facility_ids": [facility_id]}  # fmt: skip
    approval_id = (await ok(await approvals.client.post("/v1/approvals", json=filed, headers=developer), 201))[
        "approval_id"
    ]
    await ok(await approvals.client.post(f"/v1/approvals/{approval_id}/submit", headers=developer))
    await ok(await approvals.client.post(f"/v1/approvals/{approval_id}/review", headers=regulator))
    decision = {"outcome": "approved", "meaning": "Approved by DE-PEI", "reason": "Platform acceptable"}
    await ok(await approvals.client.post(f"/v1/approvals/{approval_id}/decision", json=decision, headers=regulator))
    slot_ids = await publish_capacity(scheduling, tokens, facility_id, suite_id)
    material_id = await stock(materials, tokens, facility_id, "1000")
    hold = {"slot_ids": slot_ids[:1], "product": "CAR-T CD19", "run_kind": "development",
            "material_needs": [{"material_id": material_id, "quantity": "400", "unit": "mL"}]}  # fmt: skip
    booking = await ok(await scheduling.client.post("/v1/bookings", json=hold, headers=tokens.developer()), 201)
    await ok(await scheduling.client.post(f"/v1/bookings/{booking['booking_id']}/confirm", headers=tokens.developer()))
    await booking_status(scheduling, tokens, booking["booking_id"], "confirmed")
    await all_chained(clean_hub)
    return booking["booking_id"]


async def all_chained(hub) -> None:
    async def chained():
        for service in hub.values():
            [row] = await service.sql("SELECT count(*) FILTER (WHERE chain_seq IS NULL) AS unchained FROM outbox")
            assert row.unchained == 0, f"{service.name}: {row.unchained} not chained yet"
        return True

    await eventually(chained, timeout=10)


async def verify(capsys, *args: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, ["audit", "verify", *args])
    return code, capsys.readouterr().out


async def test_after_a_booking_confirmed_every_chain_verifies_and_each_tampering_is_named(
    confirmed_booking, clean_hub, capsys
):
    code, out = await verify(capsys)
    assert code == 0, out
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == list(SERVICES)
    assert all(line.endswith(": ok") for line in lines)
    for name in SERVICES:
        [count] = await clean_hub[name].sql("SELECT count(*) AS n FROM outbox")
        assert count.n >= 3
        assert f"{name}: {count.n} rows checked, 0 not yet chained" in out

    scheduling = clean_hub["scheduling"]
    [victim] = await scheduling.sql(
        "SELECT seq, chain_seq, event_id, envelope FROM outbox WHERE type = 'gmphub.scheduling.booking.confirmed.v1'"
    )
    where = f"chain_seq {victim.chain_seq} (seq {victim.seq}, event {victim.event_id})"

    # The trigger refuses without a superuser's setting aside, naming its rule.
    for statement in (f"DELETE FROM outbox WHERE seq = {victim.seq}",
                      f"UPDATE outbox SET key = 'elsewhere' WHERE seq = {victim.seq}"):  # fmt: skip
        with pytest.raises(Exception, match="outbox_append_only"):
            await scheduling.sql(statement)

    # Changed: the actor who confirmed is rewritten.
    await as_superuser(scheduling, "UPDATE outbox SET envelope = jsonb_set(envelope, '{actor}', "
                       f"'\"developer:someone-else\"') WHERE seq = {victim.seq}")  # fmt: skip
    code, out = await verify(capsys, "scheduling")
    assert code == 1
    assert f"scheduling: BROKEN at {where}: hash mismatch: stored hash" in out
    assert "its envelope was changed after it was chained" in out
    await as_superuser(scheduling, f"UPDATE outbox SET envelope = CAST(:original AS jsonb) WHERE seq = {victim.seq}",
                       original=json.dumps(victim.envelope))  # fmt: skip
    assert (await verify(capsys, "scheduling"))[0] == 0

    # Deleted: a gap at its position.
    saved = (await scheduling.sql(f"SELECT * FROM outbox WHERE seq = {victim.seq}"))[0]
    await as_superuser(scheduling, f"DELETE FROM outbox WHERE seq = {victim.seq}")
    code, out = await verify(capsys, "scheduling")
    assert code == 1
    assert f"scheduling: BROKEN at chain_seq {victim.chain_seq + 1} " in out
    assert f"a gap: chain_seq {victim.chain_seq}..{victim.chain_seq} missing (1 row(s) deleted)" in out

    await as_superuser(
        scheduling,
        "INSERT INTO outbox SELECT * FROM jsonb_populate_record(NULL::outbox, :row)",
        row=json.dumps({**saved._asdict(), "chain_hash": "\\x" + saved.chain_hash.hex()}, default=str),
    )
    assert (await verify(capsys, "scheduling"))[0] == 0  # put back as it was

    # Forged: a row slipped in before the confirmation, with a made-up hash, the later rows moved up.
    forged = uuid.uuid4()
    await as_superuser(
        scheduling, f"UPDATE outbox SET chain_seq = -chain_seq - 1 WHERE chain_seq >= {victim.chain_seq}"
    )
    await as_superuser(scheduling, "UPDATE outbox SET chain_seq = -chain_seq WHERE chain_seq < 0")
    await as_superuser(
        scheduling,
        "INSERT INTO outbox (event_id, topic, key, type, envelope, published_at, chain_seq, chain_hash)"
        " VALUES (:id, :topic, :key, :type, jsonb_set(CAST(:envelope AS jsonb), '{id}', to_jsonb(CAST(:id_text AS text))),"
        " now(), :chain_seq, :hash)",
        id=forged, id_text=str(forged), topic=saved.topic, key=saved.key, type=saved.type,
        envelope=json.dumps(saved.envelope), chain_seq=victim.chain_seq, hash=b"\x01" * 32,
    )  # fmt: skip
    code, out = await verify(capsys)
    assert code == 1
    assert f"scheduling: BROKEN at chain_seq {victim.chain_seq} (seq " in out
    assert f"event {forged}): inserted: not part of the chain (the next row chains onto the row before it)" in out
    assert "registry: " in out and "approvals: " in out  # the others are still checked and reported
    assert out.count(": ok") == 3  # the other three


async def test_anchors_read_back_from_the_topics_check_the_chains_and_catch_a_rewrite(
    confirmed_booking, clean_hub, capsys
):
    code = await asyncio.to_thread(main, ["audit", "anchor"])
    out = capsys.readouterr().out
    assert code == 0
    assert len([line for line in out.splitlines() if ": anchored chain_seq " in line]) == 4
    registry = clean_hub["registry"]
    [head] = await registry.sql(
        "SELECT max(chain_seq) AS n FROM outbox WHERE type <> 'gmphub.registry.audit.anchored.v1'"
    )
    assert f"registry: anchored chain_seq {head.n}, hash " in out

    async def published():  # the relays send the anchors, the chain jobs chain them
        for name in SERVICES:
            [row] = await clean_hub[name].sql(
                "SELECT count(*) AS n FROM outbox WHERE type LIKE '%.audit.anchored.v1' AND published_at IS NOT NULL"
                " AND chain_seq IS NOT NULL"
            )
            assert row.n == 1, name
        return True

    await eventually(published, timeout=10)
    code, out = await verify(capsys, "--anchors-from-topic")
    assert code == 0, out
    assert out.count("1 anchor(s) matched: ok") == 4

    # A superuser rewrites registry's history: the first event's actor changed, every hash recomputed.
    await as_superuser(registry, "UPDATE outbox SET envelope = jsonb_set(envelope, '{actor}', '\"admin:nobody\"')"
                       " WHERE chain_seq = 1")  # fmt: skip
    previous = GENESIS
    for row in await registry.sql("SELECT seq, envelope::text AS envelope FROM outbox ORDER BY chain_seq"):
        previous = link(previous, row.envelope)
        await as_superuser(registry, "UPDATE outbox SET chain_hash = :h WHERE seq = :seq", h=previous, seq=row.seq)

    code, out = await verify(capsys, "registry")
    assert (code, out.strip().endswith(": ok")) == (0, True)  # consistent in itself
    code, out = await verify(capsys, "registry", "--anchors-from-topic")
    assert code == 1
    assert f"registry: BROKEN at chain_seq {head.n} " in out
    assert "the chain was rewritten between chain_seq 1 and here" in out

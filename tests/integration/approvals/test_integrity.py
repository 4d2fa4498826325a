"""What must hold against the real database: atomic cascades, serialised trees, immutable
signatures, expiry by date."""

import asyncio
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from services.approvals import approvals as use_cases
from services.approvals import jobs
from tests.integration.approvals.helpers import Flow


async def statuses(approvals, root_id: str) -> dict[str, str]:
    rows = await approvals.sql("SELECT id::text, status FROM approval WHERE root_id = :r", r=root_id)
    return dict(rows)


async def test_a_crash_halfway_through_a_cascade_leaves_the_tree_untouched(approvals, tokens, monkeypatch):
    flow = Flow(approvals, tokens)
    parent = await flow.approved()
    pid = parent["approval_id"]
    for title in ("Product A", "Product B", "Product C"):
        await flow.approved(pid, title=title)
    before = await statuses(approvals, pid)
    events_before = len(await approvals.outbox_events())

    real_copy = use_cases._copy_to_row
    copied = []

    def crash_on_third(a, row, actor, reason):
        copied.append(a.id)
        if len(copied) == 3:
            raise RuntimeError("the process died here")
        real_copy(a, row, actor, reason)

    monkeypatch.setattr(use_cases, "_copy_to_row", crash_on_third)
    with pytest.raises(RuntimeError, match="died"):
        await approvals.client.post(
            f"/v1/approvals/{pid}/suspend",
            json={"meaning": "Suspension", "reason": "Sterility failure"},
            headers=flow.reg,
        )
    assert len(copied) == 3
    assert await statuses(approvals, pid) == before
    assert len(await approvals.outbox_events()) == events_before
    assert await approvals.sql("SELECT count(*) FROM decision WHERE action = 'suspended'") == [(0,)]

    monkeypatch.setattr(use_cases, "_copy_to_row", real_copy)
    await flow.act(pid, "suspend")
    assert sorted((await statuses(approvals, pid)).values()) == ["suspended"] + ["suspended_by_parent"] * 3


async def test_a_child_approval_racing_its_parents_suspension_never_ends_approved_under_it(approvals, tokens):
    flow = Flow(approvals, tokens)
    for _ in range(3):
        parent = await flow.approved()
        pid = parent["approval_id"]
        children = []
        for i in range(4):
            child = await flow.draft(pid, title=f"child {i}")
            await flow.submit(child["approval_id"])
            await flow.review(child["approval_id"])
            children.append(child["approval_id"])
        sign = {"meaning": "Decision", "reason": "Racing", "outcome": "approved"}
        results = await asyncio.gather(
            *[approvals.client.post(f"/v1/approvals/{c}/decision", json=sign, headers=flow.reg) for c in children],
            approvals.client.post(f"/v1/approvals/{pid}/suspend", json=sign, headers=flow.reg),
        )
        assert {r.status_code for r in results} <= {200, 409}
        final = await statuses(approvals, pid)
        assert final[pid] == "suspended"
        approved_first = [c for c, r in zip(children, results, strict=False) if r.status_code == 200]
        assert {final[c] for c in approved_first} <= {"suspended_by_parent"}
        assert {final[c] for c in children if c not in approved_first} <= {"under_review"}


async def test_signed_decisions_cannot_be_edited_or_deleted(approvals, tokens):
    parent = await Flow(approvals, tokens).approved()
    for statement in ("UPDATE decision SET reason = 'rewritten'", "DELETE FROM decision"):
        with pytest.raises(sa.exc.DBAPIError, match="immutable"):
            await approvals.sql(statement)
    [(reason,)] = await approvals.sql("SELECT reason FROM decision WHERE approval_id = :a", a=parent["approval_id"])
    assert reason == "Data acceptable."


async def test_expiry_by_date_marks_children_and_runs_once(approvals, tokens):
    flow = Flow(approvals, tokens)
    parent = await flow.draft()
    pid = parent["approval_id"]
    await flow.submit(pid)
    await flow.review(pid)
    past = await approvals.client.post(
        f"/v1/approvals/{pid}/decision", headers=flow.reg,
        json={"outcome": "approved", "meaning": "m x", "reason": "r x", "valid_until": str(date.today())},
    )  # fmt: skip
    assert past.status_code == 422
    await flow.decide(pid, valid_until=str(date.today() + timedelta(days=30)))
    child = await flow.approved(pid)
    assert await jobs.expire_due(approvals.context) == 0
    await approvals.sql("UPDATE approval SET valid_until = :d WHERE id = :a", d=date.today() - timedelta(days=1), a=pid)
    expired = await asyncio.gather(jobs.expire_due(approvals.context), jobs.expire_due(approvals.context))
    assert sorted(expired) == [0, 1]  # two replicas at once: the second finds nothing left to do
    assert len(await approvals.outbox_events("gmphub.approvals.approval.expired.v1")) == 1
    assert (await flow.get(pid))["status"] == "expired"
    assert (await flow.get(child["approval_id"]))["needs_reconfirmation"] is True

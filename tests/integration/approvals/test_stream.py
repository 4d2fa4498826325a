"""The SSE stream on a real HTTP server: the caller's events only, resumable with Last-Event-ID."""

import json

import pytest

from tests.integration.approvals.helpers import Flow
from tests.integration.sse import read_events, serving, stream


@pytest.fixture
async def served(approvals):
    async with serving(approvals.app) as base:
        yield base


async def test_stream_resumes_after_last_event_id_and_shows_only_what_the_caller_may_see(approvals, tokens, served):
    flow = Flow(approvals, tokens)
    first = await flow.approved()  # 4 events
    await Flow(approvals, tokens, authority="EMA").draft(authority="EMA", title="EMA platform")
    await Flow(approvals, tokens, org="ORG-2").draft(title="ORG-2 platform")

    async with stream(served, flow.reg, since=0) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        seen = await read_events(response, 3)
    assert [e["event"].split(".")[3] for e in seen] == ["drafted", "submitted", "review_started"]
    assert json.loads(seen[0]["data"])["subject"] == first["approval_id"]
    resume_after = seen[1]["id"]

    child = await flow.draft(first["approval_id"])  # happens while nobody listens
    headers = flow.reg | {"Last-Event-ID": resume_after}
    async with stream(served, headers) as response:
        resumed = await read_events(response, 4)
        assert [e["event"].split(".")[3] for e in resumed] == ["review_started", "approved", "drafted", "drafted"]
        assert all(int(e["id"]) > int(resume_after) for e in resumed)
        holders = [json.loads(e["data"])["data"]["approval"]["holder_org_id"] for e in resumed[2:]]
        assert holders == ["ORG-2", "ORG-1"]  # filed with DE-PEI, whoever holds it; EMA's draft never shows
        assert json.loads(resumed[3]["data"])["subject"] == child["approval_id"]
        live = await flow.draft(first["approval_id"], title="Live child")
        [event] = await read_events(response, 1)
        assert json.loads(event["data"])["subject"] == live["approval_id"]

    async with stream(served, tokens.developer("ORG-2"), since=0, types="gmphub.approvals.approval.drafted.v1") as r:
        [only] = await read_events(r, 1)
        assert json.loads(only["data"])["data"]["approval"]["holder_org_id"] == "ORG-2"


async def test_stream_opens_with_where_it_starts_so_a_drop_before_any_event_loses_nothing(approvals, tokens, served):
    flow = Flow(approvals, tokens)
    before = await flow.draft(title="Before the stream")
    async with stream(served, flow.reg) as response:
        [start] = await read_events(response, 1, blocks=True)
    assert set(start) == {"id"}  # no data: EventSource shows no event, it only keeps the id
    newest = (await approvals.sql("SELECT max(seq) AS seq FROM outbox"))[0].seq
    assert int(start["id"]) == newest

    meanwhile = await flow.draft(title="While the connection was down")
    async with stream(served, flow.reg | {"Last-Event-ID": start["id"]}) as response:
        [resumed_at, event] = await read_events(response, 2, blocks=True)
    assert resumed_at == {"id": start["id"]}
    assert json.loads(event["data"])["subject"] == meanwhile["approval_id"] != before["approval_id"]


async def test_stream_refuses_another_authority_and_bad_ids(approvals, tokens, served):
    async with stream(served, tokens.regulator("EMA"), authority="DE-PEI") as response:
        assert response.status_code == 403
    # Not a number; a digit int() refuses; beyond the outbox's bigint.
    for bad in ("abc", "²".encode("latin-1"), str(2**63)):
        async with stream(served, tokens.regulator() | {"Last-Event-ID": bad}) as response:
            assert response.status_code == 400, bad
    async with stream(served, tokens.regulator(), since=2**63) as response:
        assert response.status_code == 422
    async with stream(served, tokens.facility("f-1")) as response:
        assert response.status_code == 403

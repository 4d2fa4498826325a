"""Change notifications over the API, the real database and broker: a parent's change reaches
every holder below it, each answers once with a signed impact assessment, the regulator of the
child's authority follows what is outstanding and overdue, and reconfirmation may wait for it."""

import asyncio
import json
import time

from services.approvals import jobs
from shared.auth import Role
from tests.integration.approvals.helpers import PEI, Flow
from tests.support import eventually, read_topic

SENT = "gmphub.approvals.change_notification.sent.v1"
ACKNOWLEDGED = "gmphub.approvals.change_notification.acknowledged.v1"
OVERDUE = "gmphub.approvals.change_notification.overdue.v1"
PROBLEM = "application/problem+json"


async def licensed_tree(approvals, tokens):
    """ORG-1's platform with ORG-1's product (on viral safety) and, through a letter, ORG-2's (on quality)."""
    holder, licensee = Flow(approvals, tokens), Flow(approvals, tokens, org="ORG-2")
    pid = (await holder.approved(assessment={"quality": "acceptable", "viral_safety": "acceptable"}))["approval_id"]
    await holder.ok(
        "POST", f"/v1/approvals/{pid}/letters-of-access", holder.dev, {"grantee_org_id": "ORG-2"}, expect=201
    )
    own = (await holder.approved(pid, relied_on_parts=["viral_safety"], title="ORG-1 product"))["approval_id"]
    licensed = (await licensee.approved(pid, relied_on_parts=["quality"], title="ORG-2 product"))["approval_id"]
    return holder, licensee, pid, own, licensed


async def notifications(flow: Flow, headers: dict, query: str = "") -> list[dict]:
    return await flow.ok("GET", f"/v1/change-notifications{query}", headers)


def answer(impact: str, **kw) -> dict:
    return {"impact": impact, "meaning": "Impact assessment by the holder", "reason": "Assessed by QA", **kw}


async def test_an_approved_variation_reaches_every_holder_and_each_answers_signed(approvals, tokens, settings):
    holder, licensee, pid, own, licensed = await licensed_tree(approvals, tokens)
    variation = await holder.approved(pid, covers="variation", title="New capsid supplier", relied_on_parts=["quality"],
                                      assessment={"quality": "acceptable with the new supplier"})  # fmt: skip

    # one notification per child, to its own holder, naming what changed in the parts it relies on
    outstanding = await notifications(holder, holder.reg, "?status=outstanding")
    by_child = {n["approval_id"]: n for n in outstanding}
    assert set(by_child) == {own, licensed}
    mine, theirs = by_child[own], by_child[licensed]
    assert (theirs["holder_org_id"], theirs["change"], theirs["changed_approval_id"], theirs["cause_approval_id"]) == (
        "ORG-2",
        "variation_approved",
        pid,
        variation["approval_id"],
    )
    assert theirs["changed_parts"] == ["quality"] and theirs["affected_parts"] == ["quality"]
    assert mine["affected_parts"] == [] and "relies on: none of the changed parts" in mine["summary"]
    assert not theirs["overdue"] and theirs["status"] == "outstanding"
    assert [n["approval_id"] for n in await notifications(licensee, licensee.dev)] == [licensed]  # its own only
    tree = await holder.ok("GET", f"/v1/approvals/{pid}/tree", holder.reg)
    assert {d["approval_id"]: d["outstanding_change_notifications"] for d in tree["descendants"]} == {
        own: 1, licensed: 1, variation["approval_id"]: 0
    }  # fmt: skip

    # ORG-2 needs a variation of its own: drafted with the answer, linked to the notification
    acked = await licensee.ok(
        "POST", f"/v1/change-notifications/{theirs['notification_id']}/acknowledge", licensee.dev,
        answer("variation_needed", variation={"title": "ORG-2 product: new capsid supplier"}),
    )  # fmt: skip
    assert acked["status"] == "acknowledged" and acked["impact"] == "variation_needed"
    assert acked["signer"] == "developer:dev-1" and acked["meaning"] == "Impact assessment by the holder"
    drafted = await licensee.get(acked["variation_id"])
    assert (drafted["status"], drafted["covers"], drafted["parent_id"], drafted["holder_org_id"]) == (
        "draft",
        "variation",
        licensed,
        "ORG-2",
    )
    assert drafted["title"] == "ORG-2 product: new capsid supplier"
    # ORG-1's product is not affected
    await holder.ok(
        "POST", f"/v1/change-notifications/{mine['notification_id']}/acknowledge", holder.dev,
        answer("not_affected", reason="Viral safety data unchanged by the supplier switch"),
    )  # fmt: skip
    assert await notifications(holder, holder.reg, "?status=outstanding") == []
    assert len(await notifications(holder, holder.reg, "?status=acknowledged")) == 2

    # the events, with the signature over the answered state; in the children's histories; on the topic
    sent, acknowledged = await approvals.outbox_events(SENT), await approvals.outbox_events(ACKNOWLEDGED)
    assert sorted(e["subject"] for e in sent) == sorted([own, licensed])
    assert all(e["actor"] == "regulator:inspector-1" and e["data"]["authority"] == PEI for e in sent)
    signed = next(e for e in acknowledged if e["subject"] == licensed)
    assert signed["data"]["notification"]["variation_id"] == acked["variation_id"]
    assert signed["data"]["signature"]["state_sha256"] == acked["state_sha256"]
    assert signed["data"]["signature"]["org_id"] == "ORG-2"
    [draft_event] = [
        e for e in await approvals.outbox_events("gmphub.approvals.approval.drafted.v1")
        if e["subject"] == acked["variation_id"]
    ]  # fmt: skip
    assert draft_event["data"]["change_notification_id"] == theirs["notification_id"]
    history = [e["type"] for e in await licensee.ok("GET", f"/v1/approvals/{licensed}/history", licensee.dev)]
    assert history[-3:] == ["gmphub.approvals.approval.reconfirmation_required.v1", SENT, ACKNOWLEDGED]

    async def published() -> set:
        records = await read_topic(settings.kafka_servers, "gmphub.approvals.v1")
        seen = {(json.loads(r.value)["type"], r.key.decode()) for r in records}
        assert {(SENT, licensed), (ACKNOWLEDGED, licensed), (SENT, own), (ACKNOWLEDGED, own)} <= seen
        return seen

    await eventually(published)


async def test_bad_answers_are_refused_and_change_nothing(approvals, tokens):
    holder, licensee, pid, own, licensed = await licensed_tree(approvals, tokens)
    await holder.act(pid, "suspend")
    [notification] = [n for n in await notifications(holder, holder.reg) if n["approval_id"] == licensed]
    path = f"/v1/change-notifications/{notification['notification_id']}/acknowledge"
    client = approvals.client

    async def refused(headers: dict, body: dict, status: int, detail: str) -> None:
        response = await client.post(path, headers=headers, json=body)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(PROBLEM) and detail in response.json()["detail"]

    # someone else's: another organisation does not see it; a regulator answers for no holder
    await refused(holder.dev, answer("not_affected"), 404, "No change notification")
    await refused(holder.reg, answer("not_affected"), 403, "Only the notified holder answers")
    await refused(tokens.admin(), answer("not_affected"), 403, "Only the notified holder answers")
    elsewhere = await client.post(path, headers=tokens.regulator("NL-IGJ"), json=answer("not_affected"))
    assert elsewhere.status_code in (403, 404) and "ORG-2" not in elsewhere.text  # the holder is not named
    stale = tokens.headers(Role.DEVELOPER, org_id="ORG-2", sub="dev-1", auth_time=int(time.time()) - 600)
    response = await client.post(path, headers=stale, json=answer("not_affected"))
    assert response.status_code == 401 and "insufficient_user_authentication" in response.headers["www-authenticate"]
    response = await client.post(path, headers=licensee.dev, json=answer("not_affected", variation={}))
    assert response.status_code == 422
    unknown = "/v1/change-notifications/00000000-0000-0000-0000-000000000000/acknowledge"
    assert (await client.post(unknown, headers=licensee.dev, json=answer("not_affected"))).status_code == 404
    assert await approvals.outbox_events(ACKNOWLEDGED) == []
    assert (await notifications(holder, holder.reg, f"?approval_id={licensed}"))[0]["status"] == "outstanding"

    # answered once; a second answer is a conflict and leaves the signed one as it was
    first = await licensee.ok("POST", path, licensee.dev, answer("not_affected"))
    events_before = len(await approvals.outbox_events())
    await refused(licensee.dev, answer("variation_needed"), 409, "already acknowledged")
    again = await licensee.ok("GET", f"/v1/change-notifications/{notification['notification_id']}", licensee.dev)
    assert again == first and again["impact"] == "not_affected" and again["variation_id"] is None
    assert len(await approvals.outbox_events()) == events_before
    assert [a["covers"] for a in await licensee.ok("GET", "/v1/approvals?covers=variation", licensee.dev)] == []

    # the database keeps the signed answer even from a direct UPDATE
    try:
        await approvals.sql("UPDATE change_notification SET impact = 'variation_needed' WHERE approval_id = :a",
                            a=licensed)  # fmt: skip
        raise AssertionError("an answered notification was changed")
    except Exception as exc:  # noqa: BLE001 - the trigger's refusal, whatever the driver wraps it in
        assert "signed record" in str(exc)


async def test_the_regulator_sees_what_is_outstanding_and_overdue(approvals, tokens, monkeypatch):
    holder, licensee, pid, own, licensed = await licensed_tree(approvals, tokens)
    monkeypatch.setattr(approvals.context.settings, "change_ack_days", 0)  # due at once: overdue at the next read
    await holder.act(pid, "suspend")

    overdue = await notifications(holder, holder.reg, "?overdue=true")
    assert {n["approval_id"] for n in overdue} == {own, licensed} and all(n["overdue"] for n in overdue)
    assert await notifications(holder, holder.reg, "?overdue=false") == []
    only = await notifications(holder, holder.reg, f"?overdue=true&holder_org_id=ORG-2&changed_approval_id={pid}")
    assert [n["approval_id"] for n in only] == [licensed] and only[0]["change"] == "suspended"
    assert await notifications(holder, tokens.regulator("FR-ANSM")) == []  # another authority's regulator
    facility = await approvals.client.get("/v1/change-notifications", headers=tokens.facility("f-1"))
    assert facility.status_code == 403

    await licensee.ok("POST", f"/v1/change-notifications/{only[0]['notification_id']}/acknowledge", licensee.dev,
                      answer("not_affected"))  # fmt: skip
    assert [n["approval_id"] for n in await notifications(holder, holder.reg, "?overdue=true")] == [own]
    answered = await notifications(holder, holder.reg, "?status=acknowledged")
    assert [n["overdue"] for n in answered] == [False]  # an answer is never overdue

    # the overdue step is an event too, once per notification, however many replicas run the job
    done = await asyncio.gather(*(jobs.flag_overdue_once(approvals.context) for _ in range(3)))
    assert sum(done) <= 1 and await jobs.flag_overdue_once(approvals.context) == 0  # the hub's own job may be first
    [overdue] = await approvals.outbox_events(OVERDUE)
    assert (overdue["subject"], overdue["actor"]) == (own, jobs.OVERDUE_ACTOR)
    assert overdue["data"]["authority"] == PEI and overdue["data"]["approval"]["holder_org_id"] == "ORG-1"
    [flagged] = await notifications(holder, holder.reg, "?overdue=true")
    assert flagged["notification_id"] == overdue["data"]["notification"]["notification_id"] and flagged["overdue_at"]


async def test_reconfirmation_can_require_the_holders_answer_first(approvals, tokens, monkeypatch):
    holder, licensee, pid, own, licensed = await licensed_tree(approvals, tokens)
    await holder.ok("POST", f"/v1/approvals/{pid}/withdraw", holder.dev, {"reason": "Platform discontinued"})
    assert (await licensee.get(licensed))["needs_reconfirmation"]
    [notification] = await notifications(licensee, licensee.dev)
    assert notification["change"] == "withdrawn" and "Platform discontinued" in notification["summary"]

    monkeypatch.setattr(approvals.context.settings, "reconfirm_requires_acknowledgement", True)
    response = await approvals.client.post(
        f"/v1/approvals/{licensed}/reconfirm",
        headers=holder.reg,
        json={"meaning": "Reconfirmed", "reason": "Child unaffected"},
    )
    assert response.status_code == 409 and notification["notification_id"] in response.json()["detail"]
    assert (await licensee.get(licensed))["needs_reconfirmation"]

    await licensee.ok("POST", f"/v1/change-notifications/{notification['notification_id']}/acknowledge",
                      licensee.dev, answer("not_affected"))  # fmt: skip
    assert not (await holder.act(licensed, "reconfirm"))["needs_reconfirmation"]
    # without the setting, the regulator reconfirms without waiting (ORG-1's child is still unanswered)
    monkeypatch.setattr(approvals.context.settings, "reconfirm_requires_acknowledgement", False)
    assert not (await holder.act(own, "reconfirm"))["needs_reconfirmation"]


async def test_racing_answers_make_one_signed_answer(approvals, tokens):
    holder, licensee, pid, own, licensed = await licensed_tree(approvals, tokens)
    await holder.act(pid, "suspend")
    [notification] = await notifications(licensee, licensee.dev)
    path = f"/v1/change-notifications/{notification['notification_id']}/acknowledge"

    answers = await asyncio.gather(
        *(approvals.client.post(path, headers=licensee.dev, json=answer("variation_needed")) for _ in range(4))
    )

    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
    assert len(await approvals.outbox_events(ACKNOWLEDGED)) == 1
    variations = await licensee.ok("GET", f"/v1/approvals?covers=variation&parent_id={licensed}", licensee.dev)
    assert len(variations) == 1  # the losers drafted nothing

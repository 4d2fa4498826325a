"""The approval flows through the API, per role."""

from tests.integration.approvals.helpers import PEI, Flow


async def test_parent_child_flow_with_inheritance_and_signed_decision(approvals, tokens):
    flow = Flow(approvals, tokens)
    parent = await flow.approved(assessment={"quality.drug_substance": "acceptable", "viral_safety": "acceptable"})
    assert parent["status"] == "approved" and parent["version"] == 4

    child = await flow.draft(parent["approval_id"], relied_on_parts=["quality.drug_substance", "clinical"])
    refused = await approvals.client.post(f"/v1/approvals/{child['approval_id']}/submit", headers=flow.dev)
    assert refused.status_code == 409 and "clinical" in refused.json()["detail"]

    child = await flow.draft(parent["approval_id"], relied_on_parts=["quality.drug_substance"])
    await flow.submit(child["approval_id"])
    seen = await flow.get(child["approval_id"], headers=flow.reg)
    assert seen["inheritance"]["inherited"] == {"quality.drug_substance": "acceptable"}
    assert seen["root_id"] == parent["approval_id"]

    decisions = await flow.ok("GET", f"/v1/approvals/{parent['approval_id']}/decisions", flow.reg)
    assert [(d["action"], d["signer"], d["authority"]) for d in decisions] == [
        ("approved", "regulator:inspector-1", PEI)
    ]
    events = await approvals.outbox_events("gmphub.approvals.approval.approved.v1")
    assert events[0]["data"]["signature"]["meaning"] == "Decision of the competent authority"
    assert events[0]["actor"] == "regulator:inspector-1"


async def test_roles_and_visibility(approvals, tokens):
    flow = Flow(approvals, tokens)
    parent = await flow.draft()
    pid = parent["approval_id"]
    for headers in (tokens.developer("ORG-2"), tokens.regulator("EMA")):
        assert (await approvals.client.get(f"/v1/approvals/{pid}", headers=headers)).status_code == 404
    assert (await approvals.client.get(f"/v1/approvals/{pid}", headers=tokens.facility("f-1"))).status_code == 403
    assert (await approvals.client.get(f"/v1/approvals/{pid}", headers=tokens.admin())).status_code == 200
    # only the holder files and withdraws; only the authority's regulator reviews and decides
    assert (
        await approvals.client.post(f"/v1/approvals/{pid}/submit", headers=tokens.developer("ORG-2"))
    ).status_code == 403
    assert (await approvals.client.post(f"/v1/approvals/{pid}/submit", headers=flow.reg)).status_code == 403
    await flow.submit(pid)
    for headers in (tokens.regulator("EMA"), tokens.admin(), flow.dev):
        assert (await approvals.client.post(f"/v1/approvals/{pid}/review", headers=headers)).status_code == 403
    await flow.review(pid)
    sign = {"outcome": "approved", "meaning": "Approval", "reason": "Fine."}
    forged = await approvals.client.post(f"/v1/approvals/{pid}/decision", json=sign, headers=tokens.regulator("EMA"))
    assert forged.status_code == 403
    empty = await approvals.client.post(f"/v1/approvals/{pid}/decision", json={"outcome": "approved"}, headers=flow.reg)
    assert empty.status_code == 422  # no signature, no decision
    assert (await approvals.client.post("/v1/approvals", json={}, headers=tokens.regulator())).status_code == 422
    not_dev = await approvals.client.post(
        "/v1/approvals", headers=tokens.regulator(),
        json={"level": "parent", "covers": "platform", "title": "x platform", "authority": "DE-PEI"},
    )  # fmt: skip
    assert not_dev.status_code == 403


async def test_letter_of_access_lets_another_org_build_on_a_parent(approvals, tokens):
    flow = Flow(approvals, tokens)
    parent = await flow.approved(assessment={"viral_safety": "acceptable"})
    pid = parent["approval_id"]
    other = Flow(approvals, tokens, org="ORG-2")
    body = {"level": "child", "covers": "product", "title": "ORG-2 product", "authority": "DE-PEI", "parent_id": pid}
    refused = await approvals.client.post("/v1/approvals", json=body, headers=other.dev)
    assert refused.status_code == 404  # ORG-2 cannot even see it yet
    not_holder = await approvals.client.post(
        f"/v1/approvals/{pid}/letters-of-access", json={"grantee_org_id": "ORG-2"}, headers=other.dev
    )
    assert not_holder.status_code == 403
    await flow.ok("POST", f"/v1/approvals/{pid}/letters-of-access", flow.dev, {"grantee_org_id": "ORG-2"}, expect=201)
    again = await approvals.client.post(
        f"/v1/approvals/{pid}/letters-of-access", json={"grantee_org_id": "ORG-2"}, headers=flow.dev
    )
    assert again.status_code == 409
    assert (await other.get(pid))["status"] == "approved"  # the letter makes it visible
    child = await other.draft(pid, relied_on_parts=["viral_safety"], title="ORG-2 product")
    assert child["holder_org_id"] == "ORG-2" and child["root_id"] == pid
    third = await approvals.client.post("/v1/approvals", json=body, headers=tokens.developer("ORG-3"))
    assert third.status_code == 404
    tree = await flow.ok("GET", f"/v1/approvals/{pid}/tree", flow.dev)
    assert tree["descendants"] == []  # ORG-1 does not see ORG-2's child
    tree = await flow.ok("GET", f"/v1/approvals/{pid}/tree", flow.reg)
    assert [d["approval_id"] for d in tree["descendants"]] == [child["approval_id"]]


async def test_child_waits_on_a_parent_under_review(approvals, tokens):
    flow = Flow(approvals, tokens)
    parent = await flow.draft()
    pid = parent["approval_id"]
    child = await flow.draft(pid)
    early = await approvals.client.post(f"/v1/approvals/{child['approval_id']}/submit", headers=flow.dev)
    assert early.status_code == 409 and "draft" in early.json()["detail"]
    await flow.submit(pid)
    await flow.review(pid)
    await flow.submit(child["approval_id"])
    await flow.review(child["approval_id"])
    waiting = await flow.get(child["approval_id"])
    assert waiting["inheritance"]["waiting_on_parent"] is True
    premature = await approvals.client.post(
        f"/v1/approvals/{child['approval_id']}/decision", headers=flow.reg,
        json={"outcome": "approved", "meaning": "Approval", "reason": "Fine."},
    )  # fmt: skip
    assert premature.status_code == 409 and "waits" in premature.json()["detail"]
    await flow.decide(pid)
    assert (await flow.decide(child["approval_id"]))["status"] == "approved"


async def test_suspend_and_reinstate_cascade_with_events_and_history(approvals, tokens):
    flow = Flow(approvals, tokens)
    parent = await flow.approved()
    pid = parent["approval_id"]
    a = await flow.approved(pid, title="Product A")
    b = await flow.approved(pid, title="Product B")
    a1 = await flow.approved(a["approval_id"], covers="indication", title="Indication A1")
    await flow.act(b["approval_id"], "suspend")
    suspended = await flow.act(pid, "suspend")
    assert suspended["status"] == "suspended"
    statuses = {x: (await flow.get(x))["status"] for x in (a["approval_id"], a1["approval_id"], b["approval_id"])}
    assert statuses == {a["approval_id"]: "suspended_by_parent", a1["approval_id"]: "suspended_by_parent",
                        b["approval_id"]: "suspended"}  # fmt: skip
    await flow.act(a1["approval_id"], "reinstate", expect=409)
    assert "suspended: suspend: inspection finding" in (await flow.get(a1["approval_id"]))["status_reason"]
    await flow.act(pid, "reinstate")
    restored = await flow.get(a1["approval_id"])
    assert restored["status"] == "approved" and f"ancestor {pid}" in restored["status_reason"]
    assert "reinstated" in restored["status_reason"]
    assert (await flow.get(b["approval_id"]))["status"] == "suspended"  # suspended on its own: stays

    history = await flow.ok("GET", f"/v1/approvals/{a1['approval_id']}/history", flow.dev)
    history = [e for e in history if ".approval." in e["type"]]  # not its change notifications
    kinds = [
        (e["type"].split(".")[3], e["data"]["approval"]["status"], e["data"]["approval"]["version"]) for e in history
    ]
    assert kinds[-2:] == [("suspended", "suspended_by_parent", 5), ("reinstated", "approved", 6)]
    assert history[-2]["data"]["signature"] is None and "ancestor" in history[-2]["data"]["reason"]
    assert history[-1]["actor"] == "regulator:inspector-1"
    parent_events = await flow.ok("GET", f"/v1/approvals/{pid}/history", flow.reg)
    assert parent_events[-1]["data"]["signature"]["meaning"] == "reinstate by the competent authority"
    decisions = await flow.ok("GET", f"/v1/approvals/{pid}/decisions", flow.reg)
    assert [d["action"] for d in decisions] == ["approved", "suspended", "reinstated"]


async def test_withdrawal_and_variation_mark_children_for_reconfirmation(approvals, tokens):
    flow = Flow(approvals, tokens)
    parent = await flow.approved()
    pid = parent["approval_id"]
    product = await flow.approved(pid)
    variation = await flow.approved(pid, covers="variation", title="New cell bank")
    assert (await flow.get(product["approval_id"]))["needs_reconfirmation"] is True
    assert variation["needs_reconfirmation"] is False
    reconfirmed = await flow.act(product["approval_id"], "reconfirm")
    assert reconfirmed["needs_reconfirmation"] is False
    withdrawn = await flow.ok("POST", f"/v1/approvals/{pid}/withdraw", flow.dev, {"reason": "Platform retired"})
    assert withdrawn["status"] == "withdrawn"
    required = await approvals.outbox_events("gmphub.approvals.approval.reconfirmation_required.v1")
    assert {e["subject"] for e in required[-2:]} == {product["approval_id"], variation["approval_id"]}
    assert "withdrawn" in required[-1]["data"]["reason"]
    again = await approvals.client.post(f"/v1/approvals/{pid}/withdraw", json={"reason": "again"}, headers=flow.dev)
    assert again.status_code == 409
    under = await approvals.client.post(
        "/v1/approvals", headers=flow.dev,
        json={"level": "child", "covers": "product", "title": "late", "authority": "DE-PEI", "parent_id": pid},
    )  # fmt: skip
    assert under.status_code == 409


async def test_search(approvals, tokens):
    flow = Flow(approvals, tokens)
    site = "7b0f3a52-6f0e-4c55-9a39-4a8b3f0d7c11"
    parent = await flow.approved(facility_ids=[site], title="Lentiviral CAR-T platform")
    await flow.draft(parent["approval_id"], title="CD19 CAR-T for DLBCL")
    await Flow(approvals, tokens, org="ORG-2").draft(title="Other org platform")
    await Flow(approvals, tokens, authority="EMA").draft(title="EMA platform", authority="EMA")

    async def titles(headers, **params):
        response = await approvals.client.get("/v1/approvals", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return sorted(a["title"] for a in response.json())

    assert await titles(flow.dev) == ["CD19 CAR-T for DLBCL", "EMA platform", "Lentiviral CAR-T platform"]
    assert await titles(flow.dev, q="car-t", status="draft") == ["CD19 CAR-T for DLBCL"]
    assert await titles(flow.dev, facility_id=site) == ["Lentiviral CAR-T platform"]
    assert await titles(flow.reg) == ["CD19 CAR-T for DLBCL", "Lentiviral CAR-T platform", "Other org platform"]
    assert await titles(flow.reg, holder_org_id="ORG-2") == ["Other org platform"]
    assert await titles(tokens.admin(), authority="EMA") == ["EMA platform"]
    assert await titles(flow.dev, q="%") == []
    bad = await approvals.client.get("/v1/approvals", params={"status": "pending"}, headers=flow.dev)
    assert bad.status_code == 422


async def test_an_approval_is_filed_with_a_known_authority_only(approvals, tokens):
    flow = Flow(approvals, tokens)
    for unknown in ("DE-PIE", "XX-NOBODY", "de-pei"):
        body = {"level": "parent", "covers": "platform", "title": "AAV9 capsid platform", "authority": unknown}
        refused = await approvals.client.post("/v1/approvals", json=body, headers=flow.dev)
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["term"] == unknown and repr(unknown) in refused.json()["detail"]
    assert await approvals.sql("SELECT count(*) FROM approval") == [(0,)]
    assert await approvals.outbox_events() == []
    for known in ("DE-PEI", "IT-AIFA", "EMA"):
        assert (await flow.draft(authority=known))["authority"] == known

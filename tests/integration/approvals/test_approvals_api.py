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
    assert [(d["action"], d["signer"], d["authority"]) for d in decisions] == [("approved", "regulator:inspector-1", PEI)]
    events = await approvals.outbox_events("gmphub.approvals.approval.approved.v1")
    assert events[0]["data"]["signature"]["meaning"] == "Decision of the competent authority"
    assert events[0]["actor"] == "regulator:inspector-1"

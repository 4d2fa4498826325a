"""Revoking a letter of access through the API, per role: what the grantee loses, what stays."""

from tests.integration.approvals.helpers import Flow

REVOKED = "gmphub.approvals.letter_of_access.revoked.v1"


async def granted_tree(approvals, tokens) -> tuple[Flow, Flow, str, dict, dict]:
    """ORG-1's approved platform; ORG-2, through a letter, has an approved product and a draft on it."""
    holder, grantee = Flow(approvals, tokens), Flow(approvals, tokens, org="ORG-2")
    pid = (await holder.approved(assessment={"viral_safety": "acceptable"}))["approval_id"]
    await holder.ok(
        "POST", f"/v1/approvals/{pid}/letters-of-access", holder.dev, {"grantee_org_id": "ORG-2"}, expect=201
    )
    filed = await grantee.approved(pid, relied_on_parts=["viral_safety"], title="ORG-2 product")
    drafted = await grantee.draft(pid, title="ORG-2 second product")
    return holder, grantee, pid, filed, drafted


async def revoke(approvals, pid: str, org: str, headers: dict, reason: str | None = "Licence agreement ended"):
    body = {} if reason is None else {"reason": reason}
    return await approvals.client.post(
        f"/v1/approvals/{pid}/letters-of-access/{org}/revoke", json=body, headers=headers
    )


async def test_the_holder_revokes_and_the_grantee_builds_no_more(approvals, tokens):
    holder, grantee, pid, filed, drafted = await granted_tree(approvals, tokens)

    response = await revoke(approvals, pid, "ORG-2", holder.dev)
    assert response.status_code == 200, response.text
    letter = response.json()
    assert letter["revoked_by"] == "developer:dev-1" and letter["revocation_reason"] == "Licence agreement ended"
    assert letter["granted_by"] == "developer:dev-1" and letter["revoked_at"]

    # the grantee no longer sees the platform, nor drafts or files children on it
    assert (await approvals.client.get(f"/v1/approvals/{pid}", headers=grantee.dev)).status_code == 404
    listed = await approvals.client.get("/v1/approvals", headers=grantee.dev)
    assert pid not in {a["approval_id"] for a in listed.json()}
    body = {"level": "child", "covers": "product", "title": "late", "authority": "DE-PEI", "parent_id": pid}
    assert (await approvals.client.post("/v1/approvals", json=body, headers=grantee.dev)).status_code == 404
    refused = await approvals.client.post(f"/v1/approvals/{drafted['approval_id']}/submit", headers=grantee.dev)
    assert refused.status_code == 409 and "letter of access" in refused.json()["detail"]
    below = {
        "level": "child",
        "covers": "indication",
        "title": "below",
        "authority": "DE-PEI",
        "parent_id": filed["approval_id"],
    }
    refused = await approvals.client.post("/v1/approvals", json=below, headers=grantee.dev)
    assert refused.status_code == 409 and pid in refused.json()["detail"]  # not below its own child either

    # what it filed stays as it is, for the regulator to decide
    kept = await grantee.get(filed["approval_id"])
    assert kept["status"] == "approved" and kept["version"] == filed["version"]
    assert (await grantee.get(drafted["approval_id"]))["status"] == "draft"
    assert (await holder.act(filed["approval_id"], "suspend"))["status"] == "suspended"

    # attributed, evented, kept in the approval's history and in its letters
    [event] = await approvals.outbox_events(REVOKED)
    assert event["actor"] == "developer:dev-1" and event["subject"] == pid
    data = event["data"]
    assert (data["grantee_org_id"], data["reason"], data["authority"]) == ("ORG-2", "Licence agreement ended", "DE-PEI")
    assert set(data["grantee_approval_ids"]) == {filed["approval_id"], drafted["approval_id"]}
    history = await holder.ok("GET", f"/v1/approvals/{pid}/history", holder.dev)
    assert [e["type"].split(".")[2:4] for e in history[-2:]] == [
        ["letter_of_access", "granted"],
        ["letter_of_access", "revoked"],
    ]
    letters = await holder.ok("GET", f"/v1/approvals/{pid}/letters-of-access", holder.dev)
    assert [(x["grantee_org_id"], x["revocation_reason"]) for x in letters] == [("ORG-2", "Licence agreement ended")]

    # a new letter restores access; the draft can then be filed
    await holder.ok(
        "POST", f"/v1/approvals/{pid}/letters-of-access", holder.dev, {"grantee_org_id": "ORG-2"}, expect=201
    )
    assert (await grantee.submit(drafted["approval_id"]))["status"] == "submitted"
    letters = await holder.ok("GET", f"/v1/approvals/{pid}/letters-of-access", holder.dev)
    assert [x["revoked_at"] is None for x in letters] == [False, True]


async def test_who_may_revoke_and_bad_requests_change_nothing(approvals, tokens):
    holder, grantee, pid, _, drafted = await granted_tree(approvals, tokens)
    assert (await revoke(approvals, pid, "ORG-2", grantee.dev)).status_code == 403  # the grantee
    assert (await revoke(approvals, pid, "ORG-2", tokens.developer("ORG-3"))).status_code == 403
    assert (await revoke(approvals, pid, "ORG-2", holder.reg)).status_code == 403  # regulators decide, not license
    assert (await revoke(approvals, pid, "ORG-2", tokens.facility("f-1"))).status_code == 403
    assert (await revoke(approvals, pid, "ORG-2", holder.dev, reason=None)).status_code == 422
    assert (await revoke(approvals, pid, "ORG-2", holder.dev, reason="  ")).status_code == 422
    unknown = await revoke(approvals, pid, "ORG-3", holder.dev)
    assert unknown.status_code == 404 and "ORG-3" in unknown.json()["detail"]
    nowhere = await revoke(approvals, "00000000-0000-4000-8000-000000000000", "ORG-2", holder.dev)
    assert nowhere.status_code == 404
    assert all(r.headers["content-type"] == "application/problem+json" for r in (unknown, nowhere))
    assert await approvals.outbox_events(REVOKED) == []
    assert (await grantee.get(pid))["approval_id"] == pid  # still granted

    by_admin = await revoke(approvals, pid, "ORG-2", tokens.admin())
    assert by_admin.status_code == 200 and by_admin.json()["revoked_by"] == "admin:hub-operator"
    again = await revoke(approvals, pid, "ORG-2", holder.dev)
    assert again.status_code == 409 and "already revoked" in again.json()["detail"]
    [event] = await approvals.outbox_events(REVOKED)
    assert event["actor"] == "admin:hub-operator"
    assert (
        await approvals.client.post(f"/v1/approvals/{drafted['approval_id']}/submit", headers=grantee.dev)
    ).status_code == 409


async def test_the_revocation_event_is_documented(approvals):
    document = (await approvals.client.get("/asyncapi.json")).json()
    assert REVOKED in {m["name"] for m in document["components"]["messages"].values()}


async def test_the_hub_operator_does_not_act_as_the_holder(approvals, tokens):
    """The operator is no party to a regulatory act: it neither files, withdraws nor licenses
    another organisation's approval (403, nothing changes); it may revoke a letter, with a reason."""
    holder, _, pid, _, _ = await granted_tree(approvals, tokens)
    own_draft = (await holder.draft(title="ORG-1 product", parent_id=pid))["approval_id"]
    before = await approvals.outbox_events()
    admin = tokens.admin()
    refused = [
        await approvals.client.post(f"/v1/approvals/{own_draft}/submit", headers=admin),
        await approvals.client.post(
            f"/v1/approvals/{pid}/withdraw", json={"reason": "operator says so"}, headers=admin
        ),
        await approvals.client.post(
            f"/v1/approvals/{pid}/letters-of-access", json={"grantee_org_id": "ORG-3"}, headers=admin
        ),  # fmt: skip
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert all("hub operator is not a party" in r.json()["detail"] for r in refused)
    assert await approvals.outbox_events() == before
    assert (await holder.get(own_draft))["status"] == "draft" and (await holder.get(pid))["status"] == "approved"

    without_reason = await revoke(approvals, pid, "ORG-2", admin, reason=None)
    assert without_reason.status_code == 422
    assert (await revoke(approvals, pid, "ORG-2", admin)).status_code == 200

"""Deciding, suspending, reinstating and re-confirming are electronic signatures: each needs a
sign-in at most GMPHUB_SIGNATURE_MAX_AGE_SECONDS old (otherwise RFC 9470's challenge, and nothing
changes), and its record holds the signer's name and the hash of the approval state it signed."""

import time

import pytest

from services.approvals.events import ApprovalState
from shared.auth import Role
from shared.signatures import state_sha256
from tests.integration.approvals.helpers import PEI, Flow

CHALLENGE = (
    'Bearer error="insufficient_user_authentication", '
    'error_description="A signature needs an authentication at most 300 seconds old", max_age=300'
)
SIGNATURE = {"meaning": "Decision of the competent authority", "reason": "Data acceptable."}


async def everything(approvals) -> list:
    return [
        await approvals.sql("SELECT * FROM approval ORDER BY id"),
        await approvals.sql("SELECT * FROM decision ORDER BY id"),
        await approvals.sql("SELECT seq, envelope FROM outbox ORDER BY seq"),
    ]


def signed_state(approval: dict) -> str:
    """The hash of an approval as the API answers it, recomputed from its state's fields."""
    return state_sha256(ApprovalState.model_validate(approval))


@pytest.mark.parametrize("stale", ["ten minutes old", "without auth_time"])
async def test_a_signature_with_a_stale_sign_in_is_refused_with_the_rfc_9470_challenge_and_changes_nothing(
    approvals, tokens, stale
):
    flow = Flow(approvals, tokens)
    parent = await flow.approved()
    pending = await flow.draft(parent["approval_id"])
    await flow.submit(pending["approval_id"])
    await flow.review(pending["approval_id"])
    auth_time = int(time.time()) - 600 if stale == "ten minutes old" else None
    old = tokens.headers(Role.REGULATOR, authority=PEI, sub="inspector-1", auth_time=auth_time)
    before = await everything(approvals)

    for approval, action, body in (
        (pending, "decision", {"outcome": "approved", **SIGNATURE}),
        (pending, "decision", {"outcome": "rejected", **SIGNATURE}),
        (parent, "suspend", SIGNATURE),
        (parent, "reinstate", SIGNATURE),
        (parent, "reconfirm", SIGNATURE),
    ):
        refused = await flow.client.post(f"/v1/approvals/{approval['approval_id']}/{action}", json=body, headers=old)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"] == CHALLENGE
        assert refused.headers["content-type"] == "application/problem+json" and refused.json()["max_age"] == 300
    assert await everything(approvals) == before
    # what is not a signature still works with that token
    assert (await flow.client.get(f"/v1/approvals/{parent['approval_id']}", headers=old)).status_code == 200


async def test_a_fresh_signature_records_the_signer_and_the_hash_of_the_state_it_signed(approvals, tokens):
    flow = Flow(approvals, tokens)
    flow.reg = tokens.headers(Role.REGULATOR, authority=PEI, sub="inspector-1", name="Dr. Erika Muster")
    approved = await flow.approved()
    pid = approved["approval_id"]
    suspended = await flow.act(pid, "suspend")

    decisions = await flow.ok("GET", f"/v1/approvals/{pid}/decisions", flow.reg)
    assert [(d["action"], d["signer"], d["signer_name"]) for d in decisions] == [
        ("approved", "regulator:inspector-1", "Dr. Erika Muster"),
        ("suspended", "regulator:inspector-1", "Dr. Erika Muster"),
    ]
    assert [d["state_sha256"] for d in decisions] == [signed_state(approved), signed_state(suspended)]
    assert signed_state(await flow.get(pid)) == decisions[-1]["state_sha256"]
    [event] = await approvals.outbox_events("gmphub.approvals.approval.suspended.v1")
    assert event["data"]["signature"]["state_sha256"] == state_sha256(event["data"]["approval"])
    assert event["data"]["signature"]["state_sha256"] == decisions[-1]["state_sha256"]
    assert event["data"]["signature"]["signer_name"] == "Dr. Erika Muster"

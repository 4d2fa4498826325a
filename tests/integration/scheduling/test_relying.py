"""The read a regulator previews a suspension with: the live bookings relying on the approvals
asked, of their own authority only (others' are left out, as if absent), all for the operator."""

import uuid
from datetime import UTC, datetime, timedelta

from services.approvals import events as appr
from tests.integration.scheduling.helpers import active_agreement, certified_site, feed, hold, publish
from tests.support import eventually

SIGNATURE = appr.Signature(signer="inspector-1", authority="DE-PEI", meaning="approval", reason="ok",
                           signed_at="2026-11-25T10:00:00Z")  # fmt: skip


async def approved(approvals, scheduling, facility_id: uuid.UUID, authority: str) -> uuid.UUID:
    """An approved approval of ORG-1 covering the facility, once scheduling holds it."""
    approval_id = uuid.uuid4()
    state = appr.ApprovalState(
        approval_id=approval_id, version=3, root_id=approval_id, level="parent", covers="platform",
        title=f"Platform of {authority}", holder_org_id="ORG-1", authority=authority,
        facility_ids=[facility_id], status="approved",
    )  # fmt: skip
    await feed(approvals, appr.ApprovalApproved(approval_id=approval_id, approval=state, signature=SIGNATURE))

    async def held():
        rows = await scheduling.sql("SELECT authority FROM approval_view WHERE approval_id = :a", a=approval_id)
        return bool(rows) and rows[0].authority == authority

    await eventually(held, timeout=5.0)
    return approval_id


async def test_a_regulator_reads_the_live_bookings_relying_on_approvals_of_their_authority(
    registry, scheduling, approvals, tokens
):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=6)]
    parent = await approved(approvals, scheduling, site.facility_id, "DE-PEI")
    unasked = await approved(approvals, scheduling, site.facility_id, "DE-PEI")
    foreign = await approved(approvals, scheduling, site.facility_id, "NL-IGJ")

    async def booked(slot_id: str, approval_id: uuid.UUID | None) -> str:
        extra = {"run_kind": "clinical", "approval_id": str(approval_id)} if approval_id else {}
        answer = await hold(scheduling, tokens, [slot_id], **extra)
        assert answer.status_code == 201, answer.text
        return answer.json()["booking_id"]

    held = await booked(slots[0], parent)
    confirmed = await booked(slots[1], parent)
    await active_agreement(scheduling, tokens, site.facility_id)  # a clinical run is confirmed under one
    answer = await scheduling.client.post(f"/v1/bookings/{confirmed}/confirm", headers=tokens.developer())
    assert answer.json()["status"] == "confirmed", answer.text
    cancelled = await booked(slots[2], parent)
    answer = await scheduling.client.post(f"/v1/bookings/{cancelled}/cancel", headers=tokens.developer())
    assert answer.json()["status"] == "cancelled", answer.text
    ended = await booked(slots[3], parent)  # a run in the past: nothing a suspension reaches any more
    past = datetime.now(UTC) - timedelta(days=2)
    await scheduling.sql("UPDATE booking SET starts_at = :s, ends_at = :e WHERE id = :b",
                         s=past, e=past + timedelta(hours=8), b=uuid.UUID(ended))  # fmt: skip
    of_unasked = await booked(slots[4], unasked)
    of_foreign = await booked(slots[5], foreign)

    async def relying(headers, *approval_ids) -> list[dict]:
        params = [("approval_id", str(a)) for a in approval_ids]
        answer = await scheduling.client.get("/v1/bookings/relying", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    de_pei = tokens.regulator("DE-PEI")
    seen = await relying(de_pei, parent, foreign)
    assert [b["booking_id"] for b in seen] == [held, confirmed]
    first = seen[0]
    assert first == {
        "booking_id": held, "approval_id": str(parent), "facility_id": str(site.facility_id),
        "suite_id": str(site.suite_id), "starts_at": first["starts_at"], "ends_at": first["ends_at"],
        "status": "held", "awaiting_materials": False, "run_kind": "clinical", "holder_org_id": "ORG-1",
    }  # fmt: skip
    assert seen[1]["status"] == "confirmed"
    assert [b["booking_id"] for b in await relying(de_pei, unasked)] == [of_unasked]
    # Another authority's regulator learns nothing of DE-PEI's approvals' bookings; the operator sees all.
    assert await relying(tokens.regulator("NL-IGJ"), parent) == []
    assert [b["booking_id"] for b in await relying(tokens.regulator("NL-IGJ"), parent, foreign)] == [of_foreign]
    everything = await relying(tokens.admin(), parent, unasked, foreign)
    assert {b["booking_id"] for b in everything} == {held, confirmed, of_unasked, of_foreign}


async def test_the_read_refuses_developers_and_bad_input_with_a_problem(scheduling, tokens):
    refused = await scheduling.client.get(
        "/v1/bookings/relying", params={"approval_id": str(uuid.uuid4())}, headers=tokens.developer()
    )
    assert refused.status_code == 403 and "authority" in refused.json()["detail"]
    for params in ({}, {"approval_id": "not-an-id"}):
        bad = await scheduling.client.get("/v1/bookings/relying", params=params, headers=tokens.regulator())
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert "approval_id" in bad.json()["detail"]

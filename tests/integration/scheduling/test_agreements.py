"""Technical agreements (EU GMP Chapter 7) over the real database and broker: drafted by either
side, signed by each side once with a recent sign-in, active until terminated or expired; a
clinical booking is confirmed only under an active one. Every refusal is problem+json and changes
nothing; every step is an event, with its actor and reason, in the agreement's history."""

import asyncio
import json
import time
import uuid
from datetime import date, timedelta

import sqlalchemy as sa

from services.scheduling import jobs
from shared.auth import Role
from tests.integration.scheduling.helpers import active_agreement, certified_site, hold, publish
from tests.integration.scheduling.test_relying import approved
from tests.support import eventually, read_topic

TOPIC = "gmphub.scheduling.v1"


def draft_body(facility, **terms) -> dict:
    return {"facility_id": str(facility), "title": "Quality agreement: CAR-T CD19", "run_kinds": ["clinical"],
            "processes": ["car_t"], "document_url": "https://docs.example.org/qa/cd19-v3.pdf",
            "document_sha256": "ab" * 32, "valid_from": str(date.today()),
            "valid_until": str(date.today() + timedelta(days=365)), "reason": "Phase I supply", **terms}  # fmt: skip


def signature(side: str) -> dict:
    return {"side": side, "meaning": f"Agreed as {side.replace('_', ' ')}", "reason": "Terms reviewed by QA"}


async def snapshot(scheduling, agreement_id: str) -> tuple:
    """What a refusal must leave as it was: the row's state and version, and the agreement's events."""
    [row] = await scheduling.sql(
        "SELECT status, version, signatures, terminated_reason FROM technical_agreement WHERE id = :a",
        a=uuid.UUID(agreement_id),
    )
    events = await scheduling.sql("SELECT count(*) AS n FROM outbox WHERE key = :a", a=agreement_id)
    return tuple(row), events[0].n


async def test_drafted_by_the_facility_signed_by_both_sides_it_is_active_and_every_step_is_in_its_history(
    registry, scheduling, tokens, settings
):
    site = await certified_site(registry, scheduling)
    facility, developer = tokens.facility(site.facility_id), tokens.developer("ORG-1")
    drafted = await scheduling.client.post(
        "/v1/agreements", json=draft_body(site.facility_id, org_id="ORG-1"), headers=facility
    )
    assert drafted.status_code == 201, drafted.text
    agreement = drafted.json()
    assert (agreement["status"], agreement["org_id"], agreement["terms"]["processes"]) == ("draft", "ORG-1", ["car_t"])
    path = f"/v1/agreements/{agreement['agreement_id']}"

    first = await scheduling.client.post(f"{path}/sign", json=signature("contract_acceptor"), headers=facility)
    assert first.json()["status"] == "signed_by_one", first.text
    second = await scheduling.client.post(f"{path}/sign", json=signature("contract_giver"), headers=developer)
    active = second.json()
    assert (active["status"], active["version"]) == ("active", 3), second.text
    giver = next(s for s in active["signatures"] if s["side"] == "contract_giver")
    assert (giver["signer"], giver["meaning"], giver["reason"]) == (
        "developer:dev-1", "Agreed as contract giver", "Terms reviewed by QA"
    )  # fmt: skip
    assert {s["state_sha256"] for s in active["signatures"]} == {giver["state_sha256"]}  # the same terms

    history = (await scheduling.client.get(f"{path}/history", headers=developer)).json()
    assert [(e["type"].split(".")[3], e["actor"]) for e in history] == [
        ("drafted", "facility:facility-user-1"), ("signed", "facility:facility-user-1"), ("signed", "developer:dev-1")
    ]  # fmt: skip
    assert history[0]["data"]["reason"] == "Phase I supply"
    assert history[2]["data"]["signature"]["reason"] == "Terms reviewed by QA"
    assert history[2]["data"]["agreement"]["status"] == "active"

    async def on_the_topic():
        records = await read_topic(settings.kafka_bootstrap_servers, TOPIC)
        types = [json.loads(r.value)["type"] for r in records if r.key == agreement["agreement_id"].encode()]
        assert types == [e["type"] for e in history], types
        return types

    await eventually(on_the_topic, timeout=10.0)

    # Reads: the organisation's and the facility's lists, one agreement; others see none of it.
    assert [a["agreement_id"] for a in (await scheduling.client.get("/v1/orgs/ORG-1/agreements", headers=developer)).json()] == [agreement["agreement_id"]]  # fmt: skip
    listed = await scheduling.client.get(
        f"/v1/facilities/{site.facility_id}/agreements?status=active", headers=facility
    )
    assert [a["agreement_id"] for a in listed.json()] == [agreement["agreement_id"]]
    assert (await scheduling.client.get(f"/v1/facilities/{site.facility_id}/agreements?status=draft", headers=facility)).json() == []  # fmt: skip
    assert (
        await scheduling.client.get("/v1/orgs/ORG-1/agreements", headers=tokens.developer("ORG-2"))
    ).status_code == 403
    assert (await scheduling.client.get(path, headers=tokens.developer("ORG-2"))).status_code == 404
    assert (await scheduling.client.get(path, headers=tokens.facility(uuid.uuid4()))).status_code == 404
    assert (await scheduling.client.get(path, headers=tokens.regulator())).status_code == 200  # inspection


async def test_wrong_side_second_signature_stale_sign_in_and_someone_elses_agreement_are_refused_changing_nothing(
    registry, scheduling, tokens
):
    site = await certified_site(registry, scheduling)
    developer = tokens.developer("ORG-1")
    drafted = (
        await scheduling.client.post("/v1/agreements", json=draft_body(site.facility_id), headers=developer)
    ).json()
    agreement_id = drafted["agreement_id"]
    path = f"/v1/agreements/{agreement_id}"
    signed = await scheduling.client.post(f"{path}/sign", json=signature("contract_giver"), headers=developer)
    assert signed.status_code == 200, signed.text
    before = await snapshot(scheduling, agreement_id)

    refusals = [
        # a developer of the organisation signing for the facility
        (developer, signature("contract_acceptor"), 403, "belongs to a user of facility"),
        # the facility signing for the organisation
        (tokens.facility(site.facility_id), signature("contract_giver"), 403, "belongs to a developer of ORG-1"),
        # the hub operator signs for no side
        (tokens.admin(), signature("contract_giver"), 403, "belongs to a developer"),
        # the same side again
        (developer, signature("contract_giver"), 409, "already"),
        # someone else's agreement: as if absent
        (tokens.developer("ORG-2"), signature("contract_giver"), 404, "No agreement"),
        (tokens.facility(uuid.uuid4()), signature("contract_acceptor"), 404, "No agreement"),
        # a sign-in ten minutes old
        (tokens.headers(Role.FACILITY, facility_ids=[str(site.facility_id)], sub="facility-user-1",
                        auth_time=int(time.time()) - 600), signature("contract_acceptor"), 401, "fresh sign-in"),
        # no meaning, no reason
        (tokens.facility(site.facility_id), {"side": "contract_acceptor"}, 422, None),
    ]  # fmt: skip
    for headers, body, status, says in refusals:
        refused = await scheduling.client.post(f"{path}/sign", json=body, headers=headers)
        assert refused.status_code == status, (body, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        if says:
            assert says in refused.json()["detail"], refused.json()
    assert await snapshot(scheduling, agreement_id) == before


async def test_bad_terms_are_refused_with_422_and_nothing_is_drafted(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    developer, today = tokens.developer("ORG-1"), date.today()
    for terms, says in [
        ({"valid_until": str(today)}, "must lie after valid_from"),
        ({"valid_from": str(today - timedelta(days=30)), "valid_until": str(today - timedelta(days=1))}, "in the past"),
        ({"valid_until": "2027-02-30"}, None),
        ({"run_kinds": []}, None),
        ({"run_kinds": ["clinical", "clinical"]}, None),
        ({"document_sha256": "not-a-hash"}, None),
        ({"facility_id": str(uuid.uuid4())}, "not known to scheduling"),
    ]:
        refused = await scheduling.client.post(
            "/v1/agreements", json=draft_body(site.facility_id, **terms), headers=developer
        )
        assert refused.status_code == 422, (terms, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        if says:
            assert says in refused.json()["detail"]
    other_org = await scheduling.client.post(
        "/v1/agreements", json=draft_body(site.facility_id, org_id="ORG-2"), headers=developer
    )
    assert other_org.status_code == 403
    other_facility = await scheduling.client.post(
        "/v1/agreements", json=draft_body(site.facility_id, org_id="ORG-1"), headers=tokens.facility(uuid.uuid4())
    )
    assert other_facility.status_code == 403
    assert await scheduling.sql("SELECT id FROM technical_agreement") == []


async def test_either_side_terminates_once_with_a_reason_and_the_job_expires_what_ran_out(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    agreement = await active_agreement(scheduling, tokens, site.facility_id)
    path = f"/v1/agreements/{agreement['agreement_id']}"
    no_reason = await scheduling.client.post(f"{path}/terminate", json={}, headers=tokens.facility(site.facility_id))
    assert no_reason.status_code == 422
    stranger = await scheduling.client.post(
        f"{path}/terminate", json={"reason": "not mine"}, headers=tokens.developer("ORG-2")
    )
    assert stranger.status_code == 404
    ended = await scheduling.client.post(
        f"{path}/terminate",
        json={"reason": "Suite closed for refurbishment"},
        headers=tokens.facility(site.facility_id),
    )
    assert (ended.json()["status"], ended.json()["terminated_reason"]) == (
        "terminated",
        "Suite closed for refurbishment",
    )
    before = await snapshot(scheduling, agreement["agreement_id"])
    again = await scheduling.client.post(f"{path}/terminate", json={"reason": "again"}, headers=tokens.developer())
    assert again.status_code == 409 and "is terminated" in again.json()["detail"]
    assert await snapshot(scheduling, agreement["agreement_id"]) == before
    history = (await scheduling.client.get(f"{path}/history", headers=tokens.developer())).json()
    assert (history[-1]["type"], history[-1]["actor"], history[-1]["data"]["reason"]) == (
        "gmphub.scheduling.agreement.terminated.v1", "facility:facility-user-1", "Suite closed for refurbishment"
    )  # fmt: skip

    # An agreement whose last valid day passed expires by the job, with its event; once.
    running_out = await active_agreement(scheduling, tokens, site.facility_id)
    await scheduling.sql(
        "UPDATE technical_agreement SET valid_from = :f, valid_until = :u WHERE id = :a",
        f=date.today() - timedelta(days=30), u=date.today() - timedelta(days=1), a=uuid.UUID(running_out["agreement_id"]),
    )  # fmt: skip
    assert await jobs.expire_agreements_once(scheduling.context) == 1
    assert await jobs.expire_agreements_once(scheduling.context) == 0
    expired = (
        await scheduling.client.get(f"/v1/agreements/{running_out['agreement_id']}", headers=tokens.developer())
    ).json()
    assert expired["status"] == "expired"
    history = (
        await scheduling.client.get(f"/v1/agreements/{running_out['agreement_id']}/history", headers=tokens.developer())
    ).json()
    assert (history[-1]["type"], history[-1]["actor"]) == (
        "gmphub.scheduling.agreement.expired.v1",
        "service:scheduling-agreement-expiry",
    )
    assert "has passed" in history[-1]["data"]["reason"]


async def test_a_clinical_booking_is_confirmed_only_under_an_active_agreement_a_development_run_without(
    registry, scheduling, approvals, tokens
):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=3)]
    approval_id = await approved(approvals, scheduling, site.facility_id, "DE-PEI")
    developer = tokens.developer("ORG-1")

    async def held(slot_id, **extra) -> str:
        answer = await hold(scheduling, tokens, [slot_id], **extra)
        assert answer.status_code == 201, answer.text
        return answer.json()["booking_id"]

    clinical = await held(slots[0], run_kind="clinical", approval_id=str(approval_id))
    development = await held(slots[1])
    assert (await scheduling.client.post(f"/v1/bookings/{development}/confirm", headers=developer)).json()[
        "status"
    ] == "confirmed"

    # Drafted and signed by one side only: not yet.
    drafted = (await scheduling.client.post("/v1/agreements", json=draft_body(site.facility_id, valid_from=str(date.today() - timedelta(days=1))), headers=developer)).json()  # fmt: skip
    await scheduling.client.post(
        f"/v1/agreements/{drafted['agreement_id']}/sign", json=signature("contract_giver"), headers=developer
    )
    for _ in range(2):  # asked again, refused again, and nothing changed
        refused = await scheduling.client.post(f"/v1/bookings/{clinical}/confirm", headers=developer)
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert problem["rule"] == "technical_agreement_required" and problem["org_id"] == "ORG-1"
        assert "needs an active technical agreement (EU GMP Chapter 7)" in problem["detail"]
        assert f"agreement {drafted['agreement_id']} is signed_by_one" in problem["detail"]
        assert "Draft one (POST /v1/agreements), have both sides sign it, then confirm again." in problem["detail"]
    booking = (await scheduling.client.get(f"/v1/bookings/{clinical}", headers=developer)).json()
    assert (booking["status"], booking["version"], booking["awaiting_materials"]) == ("held", 1, False)
    history = (await scheduling.client.get(f"/v1/bookings/{clinical}/history", headers=developer)).json()
    assert [e["type"].split(".")[3] for e in history] == ["held"]

    # Another organisation's active agreement with the facility does not count.
    await active_agreement(scheduling, tokens, site.facility_id, org="ORG-2")
    assert (await scheduling.client.post(f"/v1/bookings/{clinical}/confirm", headers=developer)).status_code == 409

    agreement = await active_agreement(scheduling, tokens, site.facility_id)
    confirmed = await scheduling.client.post(f"/v1/bookings/{clinical}/confirm", headers=developer)
    assert confirmed.json()["status"] == "confirmed", confirmed.text

    # Terminated, it no longer lets a clinical run be confirmed.
    await scheduling.client.post(
        f"/v1/agreements/{agreement['agreement_id']}/terminate", json={"reason": "Ended"}, headers=developer
    )
    later = await held(slots[2], run_kind="clinical", approval_id=str(approval_id))
    assert (await scheduling.client.post(f"/v1/bookings/{later}/confirm", headers=developer)).status_code == 409


async def test_a_clinical_confirmation_and_a_termination_at_once_never_confirm_under_an_ended_agreement(
    registry, scheduling, approvals, tokens
):
    """The termination is mid-transaction (its row locked) when the confirmation reads the agreement:
    the confirmation waits for it, sees the agreement ended and is refused."""
    site = await certified_site(registry, scheduling)
    [slot] = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=1)]
    approval_id = await approved(approvals, scheduling, site.facility_id, "DE-PEI")
    developer = tokens.developer("ORG-1")
    agreement = await active_agreement(scheduling, tokens, site.facility_id)
    booking = (await hold(scheduling, tokens, [slot], run_kind="clinical", approval_id=str(approval_id))).json()

    db = scheduling.context.db
    async with db.engine.connect() as terminating, terminating.begin():
        await terminating.execute(
            sa.text("SELECT 1 FROM technical_agreement WHERE id = :id FOR UPDATE"), {"id": agreement["agreement_id"]}
        )
        confirming = asyncio.create_task(
            scheduling.client.post(f"/v1/bookings/{booking['booking_id']}/confirm", headers=developer)
        )
        await asyncio.sleep(0.5)
        assert not confirming.done()  # it waits for the termination to end either way
        await terminating.execute(
            sa.text("UPDATE technical_agreement SET status = 'terminated' WHERE id = :id"),
            {"id": agreement["agreement_id"]},
        )
    refused = await asyncio.wait_for(confirming, 10)
    assert refused.status_code == 409 and refused.json()["rule"] == "technical_agreement_required"
    assert (await scheduling.client.get(f"/v1/bookings/{booking['booking_id']}", headers=developer)).json()[
        "status"
    ] == "held"

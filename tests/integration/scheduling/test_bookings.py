"""Booking flows through the API: idempotent holds, the materials saga (against the real materials
service), cancellation, completion, clinical approvals, lists, history and calendar feeds."""

import uuid

from icalendar import Calendar

from services.approvals import events as appr
from tests.integration.scheduling.helpers import certified_site, feed, hold, publish
from tests.support import eventually


async def test_idempotency_key_returns_the_first_answer_and_books_nothing_more(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    body = {"slot_ids": [slots[0]], "product": "CAR-T CD19", "run_kind": "development"}
    headers = tokens.developer("ORG-1") | {"Idempotency-Key": "retry-me-1"}
    first = await scheduling.client.post("/v1/bookings", json=body, headers=headers)
    again = await scheduling.client.post("/v1/bookings", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    colleague = tokens.developer("ORG-1", sub="dev-2") | {"Idempotency-Key": "retry-me-1"}
    assert (await scheduling.client.post("/v1/bookings", json=body, headers=colleague)).json() == first.json()
    assert len(await scheduling.sql("SELECT id FROM booking WHERE campaign_id IS NULL")) == 1  # a booking of its own
    other_body = await scheduling.client.post("/v1/bookings", json=body | {"slot_ids": [slots[1]]}, headers=headers)
    assert other_body.status_code == 422 and "different request" in other_body.json()["detail"]
    without_key = await scheduling.client.post("/v1/bookings", json=body, headers=tokens.developer("ORG-1"))
    assert without_key.status_code == 409  # an honest new request for the same slot loses


async def test_a_refused_hold_leaves_every_slot_as_it_was(registry, scheduling, tokens):
    """A hold takes its slots in one statement and is judged after: a refusal, whichever rule gives
    it, rolls the taking back (the open slot asked for beside the refused one stays open)."""
    site = await certified_site(registry, scheduling)
    open_slot, taken, later = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=3)]
    assert (await hold(scheduling, tokens, [taken])).status_code == 201
    unknown = str(uuid.uuid4())
    refusals = [
        ([open_slot, unknown], 404, unknown),
        ([open_slot, taken], 409, f"Slot {taken} is held"),
        ([open_slot, later], 422, "not known to scheduling"),  # clinical, on an approval never filed
    ]
    for slot_ids, status, words in refusals:
        body = {"run_kind": "clinical", "approval_id": str(uuid.uuid4())} if status == 422 else {}
        refused = await hold(scheduling, tokens, slot_ids, **body)
        assert refused.status_code == status and words in refused.json()["detail"], refused.text
    rows = await scheduling.sql("SELECT id::text AS id, status, booking_id, version FROM slot WHERE id = ANY(:ids)",
                                ids=[uuid.UUID(open_slot), uuid.UUID(later)])  # fmt: skip
    assert [(r.status, r.booking_id, r.version) for r in rows] == [("open", None, 1)] * 2
    assert len(await scheduling.sql("SELECT id FROM booking")) == 1
    assert len(await scheduling.outbox_events("gmphub.scheduling.booking.held.v1")) == 1


async def test_confirm_cancel_complete_and_history(registry, scheduling, materials, tokens):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=3)]
    developer, facility = tokens.developer("ORG-1"), tokens.facility(site.facility_id)

    plain = (await hold(scheduling, tokens, [slots[0]])).json()
    confirmed = await scheduling.client.post(f"/v1/bookings/{plain['booking_id']}/confirm", headers=developer)
    assert confirmed.json()["status"] == "confirmed"  # no material needs: nothing to wait for
    assert (
        await scheduling.client.post(f"/v1/bookings/{plain['booking_id']}/complete", headers=developer)
    ).status_code == 403
    early = await scheduling.client.post(f"/v1/bookings/{plain['booking_id']}/complete", headers=facility)
    assert early.status_code == 409 and "once it has started" in early.json()["detail"]
    # the run begins (the clock is moved by moving the booking's start into the past)
    await scheduling.sql(
        "UPDATE booking SET starts_at = now() - interval '1 hour' WHERE id::text = :id", id=plain["booking_id"]
    )
    done = await scheduling.client.post(f"/v1/bookings/{plain['booking_id']}/complete", headers=facility)
    assert done.json()["status"] == "completed"

    need = {"material_id": str(uuid.uuid4()), "quantity": "10.5", "unit": "mL"}
    short = (await hold(scheduling, tokens, [slots[1], slots[2]], material_needs=[need])).json()
    await scheduling.client.post(f"/v1/bookings/{short['booking_id']}/confirm", headers=developer)

    async def materials_answered():  # the real materials service finds no lot and says so
        response = await scheduling.client.get(f"/v1/bookings/{short['booking_id']}", headers=developer)
        return response.json()["status"] == "materials_short" and response.json()

    answered = await eventually(materials_answered, timeout=10.0)
    assert answered["shortfalls"][0]["material_id"] == need["material_id"]
    assert answered["hold_expires_at"] is not None  # the hold runs again while the developer decides

    no_reason = await scheduling.client.post(f"/v1/bookings/{short['booking_id']}/cancel", json={}, headers=facility)
    assert no_reason.status_code == 422
    cancelled = await scheduling.client.post(
        f"/v1/bookings/{short['booking_id']}/cancel", json={"reason": "suite requalification"}, headers=facility
    )
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancel_reason"] == "suite requalification"
    assert {
        r.status
        for r in await scheduling.sql("SELECT status FROM slot WHERE id::text IN (:a, :b)", a=slots[1], b=slots[2])
    } == {"open"}

    history = (await scheduling.client.get(f"/v1/bookings/{short['booking_id']}/history", headers=developer)).json()
    assert [e["type"].split(".")[3] for e in history] == ["held", "confirmed", "materials_short", "cancelled"]
    assert history[0]["actor"] == "developer:dev-1" and history[-1]["actor"] == "facility:facility-user-1"
    assert history[2]["actor"] == "service:scheduling"
    stranger = await scheduling.client.get(f"/v1/bookings/{short['booking_id']}", headers=tokens.developer("ORG-2"))
    assert stranger.status_code == 404


async def test_clinical_run_needs_an_approved_approval_covering_the_facility(registry, scheduling, approvals, tokens):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    missing = await hold(scheduling, tokens, [slots[0]], run_kind="clinical")
    assert missing.status_code == 422 and "approval_id" in missing.json()["detail"]

    approval_id, other_facility = uuid.uuid4(), uuid.uuid4()

    def state(status, facilities, version):
        return appr.ApprovalState(
            approval_id=approval_id, version=version, root_id=approval_id, level="parent", covers="platform",
            title="Lentiviral CAR-T platform", holder_org_id="ORG-1", authority="DE-PEI",
            facility_ids=facilities, status=status,
        )  # fmt: skip

    await feed(
        approvals, appr.ApprovalSubmitted(approval_id=approval_id, approval=state("submitted", [site.facility_id], 2))
    )

    async def seen(status):
        rows = await scheduling.sql("SELECT status FROM approval_view WHERE approval_id = :a", a=approval_id)
        return bool(rows) and rows[0].status == status

    await eventually(lambda: seen("submitted"), timeout=5.0)
    pending = await hold(scheduling, tokens, [slots[0]], run_kind="clinical", approval_id=str(approval_id))
    assert pending.status_code == 409 and "submitted" in pending.json()["detail"]
    other_org = await hold(
        scheduling, tokens, [slots[0]], org="ORG-9", run_kind="clinical", approval_id=str(approval_id)
    )
    assert other_org.status_code == 422 and "another organisation" in other_org.json()["detail"]

    signature = appr.Signature(signer="inspector-1", authority="DE-PEI", meaning="approval", reason="ok",
                               signed_at="2026-11-25T10:00:00Z")  # fmt: skip
    await feed(
        approvals,
        appr.ApprovalApproved(
            approval_id=approval_id, approval=state("approved", [other_facility], 3), signature=signature
        ),
    )
    await eventually(lambda: seen("approved"), timeout=5.0)
    uncovered = await hold(scheduling, tokens, [slots[0]], run_kind="clinical", approval_id=str(approval_id))
    assert uncovered.status_code == 422 and "does not cover" in uncovered.json()["detail"]
    # an older event arriving late changes nothing
    await feed(
        approvals, appr.ApprovalSubmitted(approval_id=approval_id, approval=state("submitted", [site.facility_id], 2))
    )
    await feed(
        approvals,
        appr.ApprovalApproved(
            approval_id=approval_id, approval=state("approved", [site.facility_id], 4), signature=signature
        ),
    )

    async def covered():
        rows = await scheduling.sql("SELECT version FROM approval_view WHERE approval_id = :a", a=approval_id)
        return rows[0].version == 4

    await eventually(covered, timeout=5.0)
    booked = await hold(scheduling, tokens, [slots[0]], run_kind="clinical", approval_id=str(approval_id))
    assert booked.status_code == 201, booked.text


async def test_lists_and_calendar_feeds(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    mine = (await hold(scheduling, tokens, [slots[0]], org="ORG-1")).json()
    await hold(scheduling, tokens, [slots[1]], org="ORG-2")

    org_list = await scheduling.client.get("/v1/orgs/ORG-1/bookings", headers=tokens.developer("ORG-1"))
    assert [b["booking_id"] for b in org_list.json()] == [mine["booking_id"]]
    assert (
        await scheduling.client.get("/v1/orgs/ORG-1/bookings", headers=tokens.developer("ORG-2"))
    ).status_code == 403
    facility_list = await scheduling.client.get(
        f"/v1/facilities/{site.facility_id}/bookings", headers=tokens.facility(site.facility_id)
    )
    assert len(facility_list.json()) == 2
    assert len((await scheduling.client.get("/v1/bookings", headers=tokens.developer("ORG-2"))).json()) == 1

    token = tokens.developer("ORG-1")["Authorization"].split()[1]
    feed_response = await scheduling.client.get(f"/v1/orgs/ORG-1/bookings.ics?token={token}")
    assert feed_response.status_code == 200 and feed_response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(feed_response.content)
    events = calendar.walk("VEVENT")
    assert [str(e["uid"]) for e in events] == [f"{mine['booking_id']}@scheduling.gmphub"]
    assert events[0].decoded("dtstart").isoformat().startswith(mine["starts_at"][:16])
    assert (await scheduling.client.get("/v1/orgs/ORG-1/bookings.ics")).status_code == 401
    assert (await scheduling.client.get(f"/v1/orgs/ORG-2/bookings.ics?token={token}")).status_code == 403
    facility_token = tokens.facility(site.facility_id)["Authorization"].split()[1]
    facility_feed = await scheduling.client.get(
        f"/v1/facilities/{site.facility_id}/bookings.ics?token={facility_token}"
    )
    assert len(Calendar.from_ical(facility_feed.content).walk("VEVENT")) == 2

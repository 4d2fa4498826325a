"""Developers and facilities follow their own bookings: webhooks to a real local receiver (Standard
Webhooks signatures, retries with backoff, the delivery log, secret rotation), the SSE stream, and
the reminder of a hold expiring soon, sent once."""

import json

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.scheduling import jobs
from tests.integration.receiver import Receiver
from tests.integration.scheduling.helpers import certified_site, hold, publish, quote_body, send_quote, send_request
from tests.integration.sse import read_events, serving, stream
from tests.support import eventually

HELD = "gmphub.scheduling.booking.held.v1"
CANCELLED = "gmphub.scheduling.booking.cancelled.v1"
EXPIRING = "gmphub.scheduling.booking.hold_expiring.v1"
CAMPAIGN_EXPIRING = "gmphub.scheduling.campaign.hold_expiring.v1"
REVISED, DECLINED = "gmphub.scheduling.quote.revised.v1", "gmphub.scheduling.quote.declined.v1"
SENT, RECEIVED = "gmphub.scheduling.request.sent.v1", "gmphub.scheduling.request.received.v1"


async def subscribe(scheduling, headers: dict, url: str, types: list[str] | None = None, **body) -> dict:
    response = await scheduling.client.post(
        "/v1/subscriptions", json={"url": url, "event_types": types or [], **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def received(receiver: Receiver, count: int) -> list[dict]:
    """Wait for `count` requests; their bodies, in the order the events happened (deliveries go
    out side by side, so they may arrive in another)."""

    async def arrived():
        assert len(receiver.requests) >= count, receiver.requests
        return sorted((json.loads(body) for _, _, body in receiver.requests), key=lambda b: b["time"])

    return await eventually(arrived, timeout=8)


async def fanned_out(scheduling) -> None:
    """The fan-out has read the whole outbox: what was not delivered by now never will be."""

    async def past_the_newest():
        [(last,)] = await scheduling.sql("SELECT max(seq) FROM outbox")
        assert await scheduling.sql("SELECT 1 FROM webhook_cursor WHERE last_seq >= :last", last=last)
        return True

    await eventually(past_the_newest)


async def test_a_developers_webhook_gets_its_own_orgs_signed_hold_and_never_anothers(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    async with Receiver() as mine, Receiver() as theirs:
        sub = await subscribe(scheduling, tokens.developer("ORG-1"), mine.url, [HELD])
        assert sub["org_id"] == "ORG-1" and sub["facility_id"] is None and sub["secret"].startswith("whsec_")
        await subscribe(scheduling, tokens.developer("ORG-2"), theirs.url)  # every type, of ORG-2
        own = (await hold(scheduling, tokens, [slots[0]], org="ORG-1")).json()
        await hold(scheduling, tokens, [slots[1]], org="ORG-3")

        [envelope] = await received(mine, 1)
        _, headers, body = mine.requests[0]
        verified = Webhook(sub["secret"]).verify(body, headers)
        assert verified["type"] == HELD and verified["data"]["booking"]["booking_id"] == own["booking_id"]
        assert headers["webhook-id"] == envelope["id"]
        with pytest.raises(WebhookVerificationError):
            Webhook(sub["secret"]).verify(body.replace(b"ORG-1", b"ORG-3"), headers)
        await fanned_out(scheduling)
        assert len(mine.requests) == 1  # not ORG-3's hold
        assert theirs.requests == []  # ORG-2 holds nothing


async def test_a_facility_users_subscription_gets_its_facilitys_events_only(registry, scheduling, tokens):
    site, other = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    here = (await publish(scheduling, tokens, site, count=1))[0]["slot_id"]
    there = (await publish(scheduling, tokens, other, count=1))[0]["slot_id"]
    two_sites = tokens.facility(site.facility_id, other.facility_id)
    unnamed = await scheduling.client.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/x"}, headers=two_sites)
    assert unnamed.status_code == 422  # which of its two facilities?
    foreign = await scheduling.client.post(
        "/v1/subscriptions", json={"url": "http://127.0.0.1:9/x", "facility_id": str(other.facility_id)},
        headers=tokens.facility(site.facility_id),
    )  # fmt: skip
    assert foreign.status_code == 403
    async with Receiver() as receiver:
        sub = await subscribe(scheduling, tokens.facility(site.facility_id), receiver.url, [HELD, CANCELLED])
        assert sub["facility_id"] == str(site.facility_id) and sub["org_id"] is None
        booking = (await hold(scheduling, tokens, [here], org="ORG-1")).json()
        await hold(scheduling, tokens, [there], org="ORG-1")
        cancelled = await scheduling.client.post(
            f"/v1/bookings/{booking['booking_id']}/cancel", json={"reason": "plans changed"},
            headers=tokens.developer("ORG-1"),
        )  # fmt: skip
        assert cancelled.status_code == 200, cancelled.text

        bodies = await received(receiver, 2)
        await fanned_out(scheduling)
        assert [b["type"] for b in bodies] == [HELD, CANCELLED] and len(receiver.requests) == 2
        assert {b["data"]["booking"]["facility_id"] for b in bodies} == {str(site.facility_id)}


async def test_the_revision_and_decline_of_a_quote_go_to_its_developer_and_its_facility_only(
    registry, scheduling, tokens
):
    site, other = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=3)]
    facility = tokens.facility(site.facility_id)
    async with Receiver() as mine, Receiver() as theirs, Receiver() as quoting, Receiver() as elsewhere:
        await subscribe(scheduling, tokens.developer("ORG-1"), mine.url, [REVISED, DECLINED])
        await subscribe(scheduling, tokens.developer("ORG-2"), theirs.url, [REVISED, DECLINED])
        await subscribe(scheduling, facility, quoting.url, [REVISED, DECLINED])
        await subscribe(scheduling, tokens.facility(other.facility_id), elsewhere.url, [REVISED, DECLINED])
        request = await send_request(scheduling, tokens, site.facility_id, org="ORG-1")
        quote = (await send_quote(scheduling, tokens, request, site.facility_id, slots[:2])).json()
        path = f"/v1/requests/{request['request_id']}/quotes/{quote['quote_id']}"
        revised = await scheduling.client.post(f"{path}/revisions", json=quote_body(slots[1:]), headers=facility)
        assert revised.status_code == 200, revised.text
        declined = await scheduling.client.post(f"{path}/decline", json={"reason": "Line down"}, headers=facility)
        assert declined.status_code == 200, declined.text

        bodies = await received(mine, 2)
        await fanned_out(scheduling)
        assert [(b["type"], b["data"]["quote_id"], b["data"]["org_id"]) for b in bodies] == [
            (REVISED, quote["quote_id"], "ORG-1"), (DECLINED, quote["quote_id"], "ORG-1")
        ]  # fmt: skip
        assert bodies[0]["data"]["released_slot_ids"] == [slots[0]] and bodies[1]["data"]["reason"] == "Line down"
        assert [b["id"] for b in await received(quoting, 2)] == [b["id"] for b in bodies]  # its own quote
        assert len(mine.requests) == 2 and len(quoting.requests) == 2
        assert theirs.requests == [] and elsewhere.requests == []  # another organisation, another facility


async def test_each_addressed_facility_is_told_of_a_request_by_its_own_copy_and_the_developer_as_before(
    registry, scheduling, tokens
):
    a, b, other = [await certified_site(registry, scheduling) for _ in range(3)]
    both = [SENT, RECEIVED]
    async with Receiver() as developer, Receiver() as at_a, Receiver() as at_b, Receiver() as elsewhere:
        await subscribe(scheduling, tokens.developer("ORG-1"), developer.url, both)
        await subscribe(scheduling, tokens.facility(a.facility_id), at_a.url, both)
        await subscribe(scheduling, tokens.facility(b.facility_id), at_b.url, both)
        await subscribe(scheduling, tokens.facility(other.facility_id), elsewhere.url, both)
        request = await send_request(scheduling, tokens, a.facility_id, b.facility_id, org="ORG-1")

        [to_a], [to_b], [to_developer] = [await received(r, 1) for r in (at_a, at_b, developer)]
        await fanned_out(scheduling)
        for body, site in ((to_a, a), (to_b, b)):  # its own, naming no other facility
            data = body["data"]
            assert (body["type"], data["request_id"], data["facility_id"]) == (
                RECEIVED, request["request_id"], str(site.facility_id)
            )  # fmt: skip
            assert data["request"]["facility_ids"] == [str(site.facility_id)]
        assert (to_developer["type"], to_developer["data"]["request"]["facility_ids"]) == (
            SENT, [str(a.facility_id), str(b.facility_id)]
        )  # fmt: skip
        assert len(at_a.requests) == len(at_b.requests) == len(developer.requests) == 1
        assert elsewhere.requests == []

    async with serving(scheduling.app) as base:  # on the stream too: b's first is its own, a's (earlier) left out
        async with stream(base, tokens.facility(b.facility_id), since=0, types=RECEIVED) as response:
            [event] = await read_events(response, 1)
        assert json.loads(event["data"])["id"] == to_b["id"]


async def test_a_refused_delivery_is_retried_after_a_pause_and_the_log_shows_each_attempt(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    slot = (await publish(scheduling, tokens, site, count=1))[0]["slot_id"]
    async with Receiver(statuses=[500]) as receiver:
        sub = await subscribe(scheduling, tokens.developer("ORG-1"), receiver.url, [HELD])
        await hold(scheduling, tokens, [slot], org="ORG-1")
        path = f"/v1/subscriptions/{sub['subscription_id']}/deliveries"

        async def delivered():
            response = await scheduling.client.get(path, headers=tokens.developer("ORG-1"))
            assert [d["status"] for d in response.json()] == ["delivered"], response.json()
            return response.json()[0]

        delivery = await eventually(delivered, timeout=8)
        assert delivery["attempts"] == 2 and delivery["event_type"] == HELD
        assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]
        (first, h1, _), (second, h2, body) = receiver.requests
        assert second - first >= 0.9 and h1["webhook-id"] == h2["webhook-id"]  # the same message, backed off
        Webhook(sub["secret"]).verify(body, h2)
        assert (await scheduling.client.get(path, headers=tokens.developer("ORG-2"))).status_code == 404


async def test_a_rotated_secret_signs_beside_the_old_one(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    slot = (await publish(scheduling, tokens, site, count=1))[0]["slot_id"]
    async with Receiver() as receiver:
        sub = await subscribe(scheduling, tokens.facility(site.facility_id), receiver.url, [HELD])
        path = f"/v1/subscriptions/{sub['subscription_id']}/rotate-secret"
        assert (await scheduling.client.post(path, headers=tokens.developer("ORG-1"))).status_code == 404
        rotated = await scheduling.client.post(path, headers=tokens.facility(site.facility_id))
        assert rotated.status_code == 200, rotated.text
        old, new = sub["secret"], rotated.json()["secret"]
        assert new != old and rotated.json()["previous_secret_expires_at"]
        await hold(scheduling, tokens, [slot], org="ORG-1")

        await received(receiver, 1)
        _, headers, body = receiver.requests[0]
        assert len(headers["webhook-signature"].split(" ")) == 2
        for secret in (old, new):
            Webhook(secret).verify(body, headers)


async def test_subscription_rules_and_its_attributed_history(scheduling, tokens):
    url = "http://127.0.0.1:9/x"
    for types in (["nope"], ["gmphub.scheduling.subscription.created.v1"], ["gmphub.approvals.approval.approved.v1"]):
        bad = await scheduling.client.post(
            "/v1/subscriptions", json={"url": url, "event_types": types}, headers=tokens.developer()
        )
        assert bad.status_code == 422 and types[0] in bad.json()["detail"]
    other_org = await scheduling.client.post(
        "/v1/subscriptions", json={"url": url, "org_id": "ORG-2"}, headers=tokens.developer("ORG-1")
    )
    assert other_org.status_code == 403
    regulator = await scheduling.client.post("/v1/subscriptions", json={"url": url}, headers=tokens.regulator())
    assert regulator.status_code == 403
    sub = await subscribe(scheduling, tokens.developer("ORG-1"), url)
    path = f"/v1/subscriptions/{sub['subscription_id']}"
    listed = await scheduling.client.get("/v1/subscriptions", headers=tokens.developer("ORG-1", sub="dev-2"))
    assert [s["subscription_id"] for s in listed.json()] == [sub["subscription_id"]] and "secret" not in listed.json()[
        0
    ]
    assert (await scheduling.client.get("/v1/subscriptions", headers=tokens.developer("ORG-2"))).json() == []
    assert (await scheduling.client.get(path, headers=tokens.developer("ORG-2"))).status_code == 404
    await scheduling.client.post(f"{path}/rotate-secret", headers=tokens.developer("ORG-1"))
    ended = await scheduling.client.delete(path, headers=tokens.admin())
    assert ended.json()["active"] is False
    again = await scheduling.client.post(f"{path}/rotate-secret", headers=tokens.developer("ORG-1"))
    assert again.status_code == 409

    history = (await scheduling.client.get(f"{path}/history", headers=tokens.developer("ORG-1"))).json()
    assert [(e["type"].split(".")[-2], e["actor"]) for e in history] == [
        ("created", "developer:dev-1"), ("secret_rotated", "developer:dev-1"), ("ended", "admin:hub-operator")
    ]  # fmt: skip
    assert all("whsec_" not in json.dumps(e["data"]) for e in history)


async def test_the_stream_shows_a_developer_and_a_facility_only_their_own_events(registry, scheduling, tokens):
    site, other = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    here = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    there = (await publish(scheduling, tokens, other, count=1))[0]["slot_id"]
    mine = (await hold(scheduling, tokens, [here[0]], org="ORG-1")).json()
    theirs = (await hold(scheduling, tokens, [here[1]], org="ORG-2")).json()
    elsewhere = (await hold(scheduling, tokens, [there], org="ORG-1")).json()

    async with serving(scheduling.app) as base:
        async with stream(base, tokens.developer("ORG-1"), since=0, types=HELD) as response:
            assert response.status_code == 200
            seen = await read_events(response, 2)
        assert [json.loads(e["data"])["subject"] for e in seen] == [mine["booking_id"], elsewhere["booking_id"]]

        async with stream(base, tokens.facility(site.facility_id), since=0) as response:
            seen = await read_events(response, 3)
            assert [e["event"] for e in seen] == ["gmphub.scheduling.capacity.published.v1", HELD, HELD]
            assert [json.loads(e["data"])["subject"] for e in seen[1:]] == [mine["booking_id"], theirs["booking_id"]]
            resume_after = seen[-1]["id"]
        cancelled = await scheduling.client.post(
            f"/v1/bookings/{theirs['booking_id']}/cancel", json={}, headers=tokens.developer("ORG-2")
        )
        assert cancelled.status_code == 200, cancelled.text
        await scheduling.client.post(f"/v1/bookings/{elsewhere['booking_id']}/cancel", json={},
                                     headers=tokens.developer("ORG-1"))  # fmt: skip
        headers = tokens.facility(site.facility_id) | {"Last-Event-ID": resume_after}
        async with stream(base, headers) as response:
            [event] = await read_events(response, 1)
        assert event["event"] == CANCELLED and json.loads(event["data"])["subject"] == theirs["booking_id"]

        async with stream(base, tokens.regulator()) as response:
            assert response.status_code == 403
        async with stream(base, tokens.developer(), types="nope") as response:
            assert response.status_code == 422


async def test_a_hold_expiring_soon_is_told_once_to_its_subscribers(registry, scheduling, tokens, monkeypatch):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    async with Receiver() as receiver:
        await subscribe(scheduling, tokens.developer("ORG-1"), receiver.url, [EXPIRING])
        soon = (await hold(scheduling, tokens, [slots[0]], org="ORG-1")).json()
        later = (await hold(scheduling, tokens, [slots[1]], org="ORG-1")).json()
        await scheduling.sql(
            "UPDATE booking SET hold_expires_at = now() + interval '2 minutes' WHERE id = :b", b=soon["booking_id"]
        )  # within the default 300 s; the other hold has its full 900 s

        assert await jobs.remind_expiring_holds_once(scheduling.context) in (0, 1)  # 0: the job was first
        assert await jobs.remind_expiring_holds_once(scheduling.context) == 0

        [event] = await scheduling.outbox_events(EXPIRING)
        assert event["subject"] == soon["booking_id"] and event["actor"] == "service:scheduling-hold-reminder"
        assert event["data"]["booking"]["status"] == "held" and event["data"]["hold_expires_at"]
        [body] = await received(receiver, 1)
        assert body["id"] == event["id"]
        history = await scheduling.client.get(f"/v1/bookings/{soon['booking_id']}/history",
                                              headers=tokens.developer("ORG-1"))  # fmt: skip
        assert [e["type"] for e in history.json()] == [HELD, EXPIRING]

        monkeypatch.setattr(scheduling.context.settings, "hold_reminder_seconds", 3600)
        assert await jobs.remind_expiring_holds_once(scheduling.context) in (0, 1)
        reminded = {e["subject"] for e in await scheduling.outbox_events(EXPIRING)}
        assert reminded == {soon["booking_id"], later["booking_id"]}  # each once


async def test_a_campaign_hold_expiring_soon_is_told_once_to_its_developer_and_facility(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    async with Receiver() as developer, Receiver() as facility:
        await subscribe(scheduling, tokens.developer("ORG-1"), developer.url, [CAMPAIGN_EXPIRING])
        await subscribe(scheduling, tokens.facility(site.facility_id), facility.url, [CAMPAIGN_EXPIRING])
        request = await send_request(scheduling, tokens, site.facility_id, org="ORG-1")
        quote = (await send_quote(scheduling, tokens, request, site.facility_id, slots)).json()
        accepted = await scheduling.client.post(
            f"/v1/requests/{request['request_id']}/quotes/{quote['quote_id']}/accept", headers=tokens.developer("ORG-1")
        )
        campaign_id = accepted.json()["campaign_id"]
        await scheduling.sql(
            "UPDATE campaign SET hold_expires_at = now() + interval '2 minutes' WHERE id = :c", c=campaign_id
        )  # within the default 300 s

        assert await jobs.remind_expiring_holds_once(scheduling.context) in (0, 1)  # 0: the job was first
        assert await jobs.remind_expiring_holds_once(scheduling.context) == 0

        [event] = await scheduling.outbox_events(CAMPAIGN_EXPIRING)
        assert event["subject"] == campaign_id and event["actor"] == "service:scheduling-hold-reminder"
        assert event["data"]["campaign"]["status"] == "held" and event["data"]["hold_expires_at"]
        for receiver in (developer, facility):
            [body] = await received(receiver, 1)
            assert body["id"] == event["id"]
        history = await scheduling.client.get(f"/v1/campaigns/{campaign_id}/history", headers=tokens.developer("ORG-1"))
        assert [e["type"] for e in history.json()][-1] == CAMPAIGN_EXPIRING
        [row] = await scheduling.sql("SELECT version, hold_reminded_for = hold_expires_at AS told FROM campaign")
        assert (row.version, row.told) == (1, True)  # told, and nothing else of the campaign changed


async def test_a_pending_delivery_of_an_ended_subscription_is_not_waited_for(scheduling, tokens):
    """A fan-out that read a subscription just before it ended may leave a pending delivery for it
    (ending share-locks against that, but one made earlier and missed is the same): the senders
    never claim it, so they must not count it as due either, or they would poll every 20 ms."""
    developer = tokens.developer("ORG-1")
    sub = await subscribe(scheduling, developer, "https://receiver.example.eu/hooks", [HELD])
    assert (await scheduling.client.delete(f"/v1/subscriptions/{sub['subscription_id']}", headers=developer)).is_success
    await scheduling.sql(
        "INSERT INTO delivery (id, subscription_id, outbox_seq, event_id, event_type, status, attempts,"
        " next_attempt_at, created_at) VALUES (gen_random_uuid(), :s, 1, 'e-1', :t, 'pending', 0,"
        " now() - interval '1 minute', now())",
        s=sub["subscription_id"], t=HELD,
    )  # fmt: skip
    async with scheduling.context.db.unit_of_work("test:senders") as uow:
        assert await uow.deliveries.next_due_in() is None

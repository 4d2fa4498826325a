"""Webhook deliveries to a real local HTTP receiver: Standard Webhooks signatures, retries with
backoff, attempts visible, and a dead endpoint that slows no one else."""

import asyncio
import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.integration.approvals.helpers import Flow
from tests.integration.receiver import Receiver
from tests.support import eventually

APPROVED = "gmphub.approvals.approval.approved.v1"


async def subscribe(approvals, tokens, url: str, authority: str = "DE-PEI", types: list[str] | None = None) -> dict:
    response = await approvals.client.post(
        "/v1/subscriptions", json={"url": url, "event_types": types or []}, headers=tokens.regulator(authority)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_signed_delivery_retried_until_it_succeeds(approvals, tokens):
    async with Receiver(statuses=[503]) as receiver, Receiver() as other_authority:
        sub = await subscribe(approvals, tokens, receiver.url, types=[APPROVED])
        assert sub["secret"].startswith("whsec_")
        await subscribe(approvals, tokens, other_authority.url, authority="EMA")
        parent = await Flow(approvals, tokens).approved(assessment={"quality": "acceptable"})

        async def delivered():
            response = await approvals.client.get(
                f"/v1/subscriptions/{sub['subscription_id']}/deliveries", headers=tokens.regulator()
            )
            assert len(response.json()) == 1 and response.json()[0]["status"] == "delivered", response.json()
            return response.json()[0]

        delivery = await eventually(delivered, timeout=8)
        assert delivery["attempts"] == 2 and delivery["event_type"] == APPROVED
        assert [a["status_code"] for a in delivery["attempt_log"]] == [503, 200]
        assert len(receiver.requests) == 2
        (first, h1, body1), (second, h2, body2) = receiver.requests
        assert second - first >= 0.9  # backed off before retrying
        assert h1["webhook-id"] == h2["webhook-id"] == delivery["event_id"]  # the same message, retried
        envelope = Webhook(sub["secret"]).verify(body2, h2)
        assert envelope["data"]["approval"]["approval_id"] == parent["approval_id"]
        assert envelope["data"]["signature"]["signer"] == "regulator:inspector-1"
        tampered = json.dumps(envelope | {"subject": "someone-else"})
        try:
            Webhook(sub["secret"]).verify(tampered, h2)
            raise AssertionError("a tampered body verified")
        except Exception as exc:
            assert "signature" in str(exc).lower()
        assert other_authority.requests == []  # EMA follows EMA, not DE-PEI


async def test_a_dead_endpoint_does_not_slow_the_others(approvals, tokens):
    async with Receiver(hang=True) as dead, Receiver() as alive:
        await subscribe(approvals, tokens, dead.url)
        await subscribe(approvals, tokens, alive.url)
        started = time.monotonic()
        await Flow(approvals, tokens).approved()  # drafted, submitted, review started, approved

        async def all_four():
            assert len(alive.requests) == 4
            return True

        await eventually(all_four, timeout=4)
        elapsed = time.monotonic() - started
        assert elapsed < approvals.context.settings.webhook_timeout_seconds  # not queued behind the dead one
        assert len(dead.requests) == 4  # all in flight at once, each waiting out its own timeout
        types = [json.loads(body)["type"].split(".")[3] for _, _, body in alive.requests]
        assert sorted(types) == ["approved", "drafted", "review_started", "submitted"]


async def test_out_of_attempts_is_failed_and_visible(approvals, tokens, monkeypatch):
    monkeypatch.setattr(approvals.context.settings, "webhook_max_attempts", 2)
    async with Receiver(statuses=[500, 500, 500]) as receiver:
        sub = await subscribe(approvals, tokens, receiver.url, types=["gmphub.approvals.approval.drafted.v1"])
        await Flow(approvals, tokens).draft()

        async def failed():
            response = await approvals.client.get(
                f"/v1/subscriptions/{sub['subscription_id']}/deliveries?status=failed", headers=tokens.regulator()
            )
            assert len(response.json()) == 1, response.json()
            return response.json()[0]

        delivery = await eventually(failed, timeout=8)
        assert delivery["attempts"] == 2 and delivery["last_status_code"] == 500
        assert len(receiver.requests) == 2


async def test_subscription_rules(approvals, tokens):
    bad = await approvals.client.post(
        "/v1/subscriptions", json={"url": "http://127.0.0.1:9/x", "event_types": ["nope"]}, headers=tokens.regulator()
    )
    assert bad.status_code == 422 and "nope" in bad.json()["detail"]
    other = await approvals.client.post(
        "/v1/subscriptions", json={"url": "http://127.0.0.1:9/x", "authority": "EMA"}, headers=tokens.regulator()
    )
    assert other.status_code == 403
    dev = await approvals.client.post(
        "/v1/subscriptions", json={"url": "http://127.0.0.1:9/x"}, headers=tokens.developer()
    )
    assert dev.status_code == 403
    sub = await subscribe(approvals, tokens, "http://127.0.0.1:9/x")
    listed = await approvals.client.get("/v1/subscriptions", headers=tokens.regulator())
    assert [s["subscription_id"] for s in listed.json()] == [sub["subscription_id"]]
    assert "secret" not in listed.json()[0]
    hidden = await approvals.client.get(f"/v1/subscriptions/{sub['subscription_id']}", headers=tokens.regulator("EMA"))
    assert hidden.status_code == 404
    ended = await approvals.client.delete(f"/v1/subscriptions/{sub['subscription_id']}", headers=tokens.regulator())
    assert ended.json()["active"] is False


async def test_subscribing_rotating_and_ending_are_attributed_events_never_fanned_out(approvals, tokens):
    auditing = await approvals.client.post(
        "/v1/subscriptions", json={"url": "http://127.0.0.1:9/x", "event_types": ["gmphub.approvals.subscription.created.v1"]},
        headers=tokens.regulator(),
    )  # fmt: skip
    assert auditing.status_code == 422  # subscription events are the audit trail, not something to follow
    watcher = await subscribe(approvals, tokens, "http://127.0.0.1:9/all")  # follows every type of DE-PEI
    sub = await subscribe(approvals, tokens, "http://127.0.0.1:9/x")
    path = f"/v1/subscriptions/{sub['subscription_id']}"
    await approvals.client.post(f"{path}/rotate-secret", headers=tokens.regulator(sub="rotator"))
    await approvals.client.delete(path, headers=tokens.admin())
    again = await approvals.client.delete(path, headers=tokens.admin())
    assert again.status_code == 200 and again.json()["active"] is False  # ending twice changes nothing more

    history = (await approvals.client.get(f"{path}/history", headers=tokens.regulator())).json()
    assert [(e["type"].split(".")[-2], e["actor"].split(":")[0]) for e in history] == [
        ("created", "regulator"), ("secret_rotated", "regulator"), ("ended", "admin")
    ]  # fmt: skip
    assert "rotator" in history[1]["actor"]
    assert all("secret" not in json.dumps(e["data"]).replace("previous_secret_expires_at", "") for e in history)
    assert history[1]["data"]["subscription"]["previous_secret_expires_at"] is not None
    assert (await approvals.client.get(f"{path}/history", headers=tokens.regulator("EMA"))).status_code == 404

    async def fanned_out_past_them():
        [(last,)] = await approvals.sql("SELECT max(seq) FROM outbox")
        assert await approvals.sql("SELECT 1 FROM webhook_cursor WHERE last_seq >= :last", last=last)
        return True

    await eventually(fanned_out_past_them)
    assert (
        await approvals.sql("SELECT id FROM delivery WHERE subscription_id::text = :id", id=watcher["subscription_id"])
        == []
    )


async def test_asyncapi_documents_every_approval_event_for_topic_readers(approvals):
    document = (await approvals.client.get("/asyncapi.json")).json()
    assert document["channels"]["approvals"]["address"] == "gmphub.approvals.v1"
    messages = document["components"]["messages"]
    names = {m["name"] for m in messages.values()}
    assert "gmphub.approvals.approval.suspended.v1" in names and "gmphub.approvals.approval.reconfirmed.v1" in names
    assert all(m["summary"] for m in messages.values())
    state = document["components"]["schemas"]["ApprovalState"]["properties"]
    assert "suspended_by_parent" in state["status"]["description"]


async def test_a_rotated_secret_signs_beside_the_old_one_for_the_grace_then_alone(approvals, tokens, monkeypatch):
    monkeypatch.setattr(approvals.context.settings, "webhook_secret_grace_seconds", 2)
    drafted = "gmphub.approvals.approval.drafted.v1"
    flow = Flow(approvals, tokens)
    async with Receiver() as receiver:
        sub = await subscribe(approvals, tokens, receiver.url, types=[drafted])
        path = f"/v1/subscriptions/{sub['subscription_id']}/rotate-secret"

        async def received(n: int):
            assert len(receiver.requests) == n
            return receiver.requests[-1]

        async def delivery() -> tuple[bytes, dict[str, str]]:
            expected = len(receiver.requests) + 1
            await flow.draft()
            _, headers, body = await eventually(lambda: received(expected), timeout=5)
            return body, headers

        body, headers = await delivery()
        assert len(headers["webhook-signature"].split(" ")) == 1
        Webhook(sub["secret"]).verify(body, headers)

        for other in (tokens.regulator("EMA"), tokens.developer(), tokens.facility("f-1")):
            assert (await approvals.client.post(path, headers=other)).status_code in (403, 404)
        response = await approvals.client.post(path, headers=tokens.regulator())
        assert response.status_code == 200, response.text
        rotated = response.json()
        old, new = sub["secret"], rotated["secret"]
        assert new.startswith("whsec_") and new != old
        assert rotated["secret_rotated_by"] == "regulator:inspector-1" and rotated["previous_secret_expires_at"]
        read = await approvals.client.get(f"/v1/subscriptions/{sub['subscription_id']}", headers=tokens.regulator())
        assert "secret" not in read.json() and read.json()["secret_rotated_at"] == rotated["secret_rotated_at"]

        body, headers = await delivery()  # within the grace: both secrets verify
        assert len(headers["webhook-signature"].split(" ")) == 2
        for secret in (old, new):
            assert Webhook(secret).verify(body, headers)["type"] == drafted

        await asyncio.sleep(2.2)
        body, headers = await delivery()  # after it: only the new one
        assert len(headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(body, headers)

        by_admin = await approvals.client.post(path, headers=tokens.admin())
        assert by_admin.status_code == 200 and by_admin.json()["secret_rotated_by"] == "admin:hub-operator"
        await approvals.client.delete(f"/v1/subscriptions/{sub['subscription_id']}", headers=tokens.regulator())
        ended = await approvals.client.post(path, headers=tokens.regulator())
        assert ended.status_code == 409 and ended.headers["content-type"] == "application/problem+json"

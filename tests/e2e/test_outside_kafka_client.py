"""An outside team follows approvals with its own Kafka client: a confluent-kafka (librdkafka)
consumer group on `gmphub.approvals.v1`, configured as services/approvals/README.md says, reads
an approval's CloudEvents from the development broker, history first and then live, commits its
offsets, and a later member of the same group resumes after them."""

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from shared.events import topic_of
from tests.integration.approvals.helpers import Flow

pytestmark = pytest.mark.e2e
TOPIC = topic_of("approvals")
DRAFTED, SUBMITTED, REVIEW_STARTED, APPROVED = (
    f"gmphub.approvals.approval.{verb}.v1" for verb in ("drafted", "submitted", "review_started", "approved")
)


def outside_consumer(bootstrap_servers: str, group_id: str) -> Consumer:
    """The settings the approvals README gives for the development broker (Tansu holds a new
    member's JoinGroup for about half of session.timeout.ms: 6 s here, librdkafka's 45 s default
    would keep the first message ~22 s away)."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
    })  # fmt: skip
    consumer.subscribe([TOPIC])
    return consumer


def poll_for(consumer: Consumer, key: str, count: int, timeout: float) -> list[dict[str, Any]]:
    """Poll (blocking: call it in a thread) until `count` messages keyed `key` came, or `timeout`."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(seen) < count and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None:
            continue
        assert message.error() is None, message.error()
        if message.key() != key.encode():
            continue  # other approvals' events, from earlier tests on the same broker
        seen.append({
            "partition": message.partition(), "offset": message.offset(),
            "headers": {name: value.decode() for name, value in message.headers() or []},
            "envelope": json.loads(message.value()), "at": time.monotonic(),
        })  # fmt: skip
    return seen


def check(records: list[dict[str, Any]], approval_id: str, types: list[str], outbox: dict[str, dict]) -> None:
    assert [r["envelope"]["type"] for r in records] == types
    for record in records:
        envelope, headers = record["envelope"], record["headers"]
        assert headers["ce_type"] == envelope["type"] and headers["ce_id"] == envelope["id"]
        assert headers["content-type"] == "application/cloudevents+json"
        assert envelope["specversion"] == "1.0" and envelope["source"] == "/gmphub/approvals"
        assert envelope["subject"] == approval_id == envelope["data"]["approval_id"]
        assert envelope == outbox[envelope["id"]]  # exactly what the service committed to its outbox
    assert len({r["partition"] for r in records}) == 1  # keyed by approval id: one partition, in order
    assert [r["offset"] for r in records] == sorted(r["offset"] for r in records)


async def test_a_confluent_kafka_consumer_group_follows_an_approval(approvals, tokens, settings):
    started = time.monotonic()
    flow = Flow(approvals, tokens)
    approval = await flow.draft(title="AAV9 vector platform")
    approval_id = approval["approval_id"]
    await flow.submit(approval_id)
    await flow.review(approval_id)

    group = f"outside-team-{uuid.uuid4().hex[:8]}"
    consumer = outside_consumer(settings.kafka_bootstrap_servers, group)
    try:
        history = await asyncio.to_thread(poll_for, consumer, approval_id, 3, 15.0)
        assert len(history) == 3, f"{len(history)} of the approval's 3 events within 15 s"

        async def outbox() -> dict[str, dict]:
            return {e["id"]: e for e in await approvals.outbox_events() if e["subject"] == approval_id}

        check(history, approval_id, [DRAFTED, SUBMITTED, REVIEW_STARTED], await outbox())
        assert [r["envelope"]["data"]["approval"]["status"] for r in history] == ["draft", "submitted", "under_review"]
        assert [r["envelope"]["data"]["approval"]["version"] for r in history] == [1, 2, 3]
        joined = history[0]["at"] - started

        # the member stays in the group: the regulator's signed approval reaches it live
        live = asyncio.create_task(asyncio.to_thread(poll_for, consumer, approval_id, 1, 10.0))
        decided = time.monotonic()
        await flow.decide(approval_id)
        received = await live
        assert len(received) == 1, "the approved event did not reach the group within 10 s"
        approved = received[0]
        check([approved], approval_id, [APPROVED], await outbox())
        assert approved["envelope"]["data"]["approval"]["status"] == "approved"
        assert approved["envelope"]["data"]["signature"]["signer"] == "regulator:inspector-1"
        assert approved["partition"] == history[0]["partition"] and approved["offset"] > history[-1]["offset"]
        live_latency = approved["at"] - decided

        # the group's offsets live on the broker
        partition = approved["partition"]
        await asyncio.to_thread(consumer.commit, asynchronous=False)
        [committed] = await asyncio.to_thread(consumer.committed, [TopicPartition(TOPIC, partition)], 10)
        assert committed.error is None and committed.offset > approved["offset"]
    finally:
        await asyncio.to_thread(consumer.close)  # leaves the group

    # a later member of the same group resumes after the committed offsets: the first event of
    # this approval it reads is the next one, none of the four the group already had
    await flow.act(approval_id, "suspend")
    successor = outside_consumer(settings.kafka_bootstrap_servers, group)
    try:
        received = await asyncio.to_thread(poll_for, successor, approval_id, 1, 15.0)
        assert len(received) == 1, "the later member read nothing of this approval within 15 s"
        suspended = received[0]
        assert suspended["envelope"]["type"] == "gmphub.approvals.approval.suspended.v1"
        assert suspended["partition"] == partition and suspended["offset"] > approved["offset"]
        assert suspended["envelope"]["data"]["approval"]["version"] == 5
    finally:
        await asyncio.to_thread(successor.close)
    print(f"\nfirst message after {joined:.1f}s, live event after {live_latency:.2f}s, "
          f"whole test {time.monotonic() - started:.1f}s")  # fmt: skip

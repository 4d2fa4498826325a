"""Every service's dead letters over HTTP, for the hub operator: `GET /ops/dlq` lists those its
consumer sent and has not applied since, `POST /ops/dlq/replay` sends them back to their topic.
Here scheduling fails on a facility registration until "the cause is fixed": replayed before, it
dies again and is still one dead letter; replayed after, it is applied once, and a second replay
and the whole topic's replay by the CLI change nothing."""

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from services.scheduling.inbound import FacilityRegistered
from shared.cli import main
from tests.integration.shared.test_registry_to_scheduling import FACILITY
from tests.support import RunningService, eventually, read_topic

TOPIC = "gmphub.registry.v1"
PROBLEM = "application/problem+json"


def handled(outcome: str) -> float:
    labels = {"service": "scheduling", "type": FacilityRegistered.type, "outcome": outcome}
    return REGISTRY.get_sample_value("gmphub_events_handled_total", labels) or 0.0


class Broken:
    """Scheduling's handler of facility registrations, failing until fixed; counts what it applied."""

    def __init__(self, scheduling: RunningService) -> None:
        self.consumer = scheduling.app.state.consumer
        self.model, self.handler = self.consumer.handlers[FacilityRegistered.type]
        self.fixed = False
        self.applied: list[str] = []

    async def __call__(self, uow, event) -> None:
        if not self.fixed:
            raise ValueError("the facility replica cannot be written yet")
        await self.handler(uow, event)
        self.applied.append(str(event.facility.facility_id))


@pytest.fixture
def broken(scheduling: RunningService):
    broken = Broken(scheduling)
    delay = broken.consumer.retry_delay
    broken.consumer.handlers[FacilityRegistered.type] = (broken.model, broken)
    broken.consumer.retry_delay = 0.01
    yield broken
    broken.consumer.handlers[FacilityRegistered.type] = (broken.model, broken.handler)
    broken.consumer.retry_delay = delay


async def test_the_operator_replays_a_services_dead_letter_and_it_is_applied_once(
    registry, scheduling, tokens, broken, caplog
):
    dead_before = REGISTRY.get_sample_value("gmphub_dlq_messages_total", {"service": "scheduling", "topic": TOPIC})
    created = await registry.client.post("/v1/facilities", json=FACILITY, headers=tokens.admin())
    assert created.status_code == 201, created.text
    facility_id = created.json()["facility_id"]
    [registered] = await registry.outbox_events(FacilityRegistered.type)

    async def dead_lettered():
        answer = (await scheduling.client.get("/ops/dlq", headers=tokens.admin())).json()
        assert answer["count"] == 1, answer
        return answer

    waiting = await eventually(dead_lettered, timeout=15)
    [topic] = [t for t in waiting["topics"] if t["topic"] == TOPIC]
    assert topic == {"topic": TOPIC, "dlq": f"{TOPIC}.dlq", "count": 1, "event_ids": [registered["id"]]}
    assert waiting["service"] == "scheduling" and waiting["replayed_by"] is None
    dead_after = REGISTRY.get_sample_value("gmphub_dlq_messages_total", {"service": "scheduling", "topic": TOPIC})
    assert (dead_after or 0) - (dead_before or 0) == 1
    missing = await scheduling.client.get(f"/v1/facilities/{facility_id}", headers=tokens.developer())
    assert missing.status_code == 404  # not applied

    for refused in (
        await scheduling.client.post("/ops/dlq/replay", headers=tokens.developer()),
        await scheduling.client.get("/ops/dlq", headers=tokens.regulator()),
    ):
        assert (refused.status_code, refused.headers["content-type"]) == (403, PROBLEM)
        assert "needs the role admin" in refused.json()["detail"]
    assert (await scheduling.client.post("/ops/dlq/replay")).status_code == 401

    # Replayed before the cause is fixed: it dies again, and is still one dead letter, its second death.
    assert (await scheduling.client.post("/ops/dlq/replay", headers=tokens.admin())).json()["count"] == 1

    async def died_twice():
        key = f"scheduling/{registered['id']}".encode()
        dead = await read_topic(scheduling.context.settings.kafka_servers, f"{TOPIC}.dlq")
        assert [dict(r.headers)["dlq_attempts"] for r in dead if r.key == key] == [b"1", b"2"]
        return True

    await eventually(died_twice, timeout=15)
    assert (await scheduling.client.get("/ops/dlq", headers=tokens.admin())).json()["count"] == 1

    broken.fixed = True
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="shared.service"):
        replay = await scheduling.client.post("/ops/dlq/replay", headers=tokens.admin())
    assert replay.status_code == 200, replay.text
    answer = replay.json()
    assert (answer["count"], answer["replayed_by"]) == (1, "admin:hub-operator")
    assert [(t["topic"], t["event_ids"]) for t in answer["topics"] if t["count"]] == [(TOPIC, [registered["id"]])]
    [logged] = [r for r in caplog.records if "replayed 1 dead letter" in r.getMessage()]
    assert logged.fields == {"actor": "admin:hub-operator", "replayed": {TOPIC: [registered["id"]]}}

    async def applied():
        response = await scheduling.client.get(f"/v1/facilities/{facility_id}", headers=tokens.developer())
        assert response.status_code == 200, response.text
        return (await scheduling.client.get("/ops/dlq", headers=tokens.admin())).json()["count"] == 0

    await eventually(applied, timeout=15)
    assert broken.applied == [facility_id]
    again = (await scheduling.client.post("/ops/dlq/replay", headers=tokens.admin())).json()
    assert again["count"] == 0  # applied: nothing is waiting

    # The CLI sends the whole topic's dead letters back, this one too: the consumer knows its id.
    duplicates = handled("duplicate")
    assert await asyncio.to_thread(main, ["dlq-replay", TOPIC]) == 0
    await eventually(lambda: asyncio.sleep(0, handled("duplicate") > duplicates), timeout=15)
    assert broken.applied == [facility_id]

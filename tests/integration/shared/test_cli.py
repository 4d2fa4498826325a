"""The operator's commands against a real broker: dead letters replayed to their topic."""

import asyncio

from aiokafka import AIOKafkaProducer

from shared.cli import main
from shared.kafka import ensure_topics
from tests.support import read_topic

TOPIC = "gmphub.materials.v1"


async def test_dlq_replay_republishes_dead_letters_without_their_error_headers(
    settings, private_broker, monkeypatch, capsys
):
    monkeypatch.setenv("GMPHUB_KAFKA_BOOTSTRAP_SERVERS", private_broker.bootstrap_servers)
    config = settings.model_copy(update={"kafka_bootstrap_servers": private_broker.bootstrap_servers})
    await ensure_topics(config, [TOPIC, f"{TOPIC}.dlq"])
    producer = AIOKafkaProducer(bootstrap_servers=private_broker.bootstrap_servers)
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(
                f"{TOPIC}.dlq", f'{{"n": {n}}}'.encode(), key=b"lot-1",
                headers=[("ce_type", b"gmphub.materials.lot.recorded.v1"), ("dlq_error", b"ValueError: boom"),
                         ("dlq_source", f"{TOPIC}/0/{n}".encode())],
            )  # fmt: skip
    finally:
        await producer.stop()

    assert await asyncio.to_thread(main, ["dlq-replay", TOPIC]) == 0
    assert "replayed 3 message(s)" in capsys.readouterr().out

    replayed = await read_topic(private_broker.bootstrap_servers, TOPIC)
    assert [r.value for r in replayed] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert all(dict(r.headers) == {"ce_type": b"gmphub.materials.lot.recorded.v1"} for r in replayed)

    assert await asyncio.to_thread(main, ["dlq-replay", TOPIC]) == 0  # its group remembers what it replayed
    assert "replayed 0 message(s)" in capsys.readouterr().out


async def test_dlq_replay_sends_an_event_that_died_twice_once_with_its_count(
    settings, private_broker, monkeypatch, capsys
):
    monkeypatch.setenv("GMPHUB_KAFKA_BOOTSTRAP_SERVERS", private_broker.bootstrap_servers)
    topic = "gmphub.registry.v1"
    config = settings.model_copy(update={"kafka_bootstrap_servers": private_broker.bootstrap_servers})
    await ensure_topics(config, [topic, f"{topic}.dlq"])
    producer = AIOKafkaProducer(bootstrap_servers=private_broker.bootstrap_servers)
    await producer.start()
    try:  # as the consumer writes them: keyed consumer/event, the event's key in dlq_key
        for attempts in (b"1", b"2"):
            await producer.send_and_wait(
                f"{topic}.dlq", b'{"id": "e-1"}', key=b"scheduling/e-1",
                headers=[("ce_id", b"e-1"), ("dlq_error", b"ValueError: boom"), ("dlq_consumer", b"scheduling"),
                         ("dlq_attempts", attempts), ("dlq_key", b"facility-1")],
            )  # fmt: skip
    finally:
        await producer.stop()

    assert await asyncio.to_thread(main, ["dlq-replay", topic]) == 0
    assert "replayed 1 message(s)" in capsys.readouterr().out
    [replayed] = await read_topic(private_broker.bootstrap_servers, topic)
    assert replayed.key == b"facility-1"
    assert dict(replayed.headers) == {"ce_id": b"e-1", "dlq_attempts": b"2"}

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

"""Poison on scheduling's topic: bytes that are no event at all, and a well-formed CloudEvents
envelope whose data fails its schema. Materials' consumer dead-letters both onto
`gmphub.scheduling.v1.dlq` with a readable error, and keeps going: bookings confirmed after them,
on the same partition, still settle."""

import json
import time
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from shared.events import topic_of
from shared.kafka import dlq_of
from tests.faults.bookings import BOOKINGS
from tests.faults.harness import LogMark
from tests.faults.truth import POISON_HEADER, assert_settled, dead_letters
from tests.support import eventually

SCHEDULING = topic_of("scheduling")
CONFIRMED = "gmphub.scheduling.booking.confirmed.v1"


def poison(booking_id: str) -> dict[str, bytes]:
    """Two messages no consumer can handle, unique to this run."""
    envelope = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/gmphub/scheduling", "type": CONFIRMED,
        "subject": booking_id, "time": datetime.now(UTC).isoformat(), "datacontenttype": "application/json",
        "data": {"nonsense": 1},
    }  # fmt: skip
    return {"garbage": b"\x00\xff not an event " + uuid.uuid4().bytes, "schema": json.dumps(envelope).encode()}


async def publish(bootstrap_servers: str, messages: dict[str, bytes], key: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        for kind, value in messages.items():
            headers = [(POISON_HEADER, kind.encode())]
            await producer.send_and_wait(SCHEDULING, value=value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()


async def test_poison_on_schedulings_topic_is_dead_lettered_and_later_bookings_settle(running_hub, client):
    site = await client.certified_site(slots=BOOKINGS)
    bookings = await client.hold_bookings(site, BOOKINGS)
    mark = LogMark(running_hub.address.logs)
    before, after = bookings[: BOOKINGS // 2], bookings[BOOKINGS // 2 :]
    messages = poison(after[0])

    await client.confirm_all(before)
    # Keyed by the next booking to confirm: its events queue behind the poison on one partition.
    await publish(running_hub.address.bootstrap_servers, messages, key=after[0])
    await client.confirm_all(after)
    confirmed = time.monotonic()

    await assert_settled("poison on gmphub.scheduling.v1", client, site, bookings, since=confirmed, mark=mark)

    async def both_dead_lettered() -> dict[bytes, dict[str, bytes]]:
        records = (await dead_letters(running_hub.address))[dlq_of(SCHEDULING)]
        found = {r.value: dict(r.headers) for r in records if r.value in messages.values()}
        assert len(found) == len(messages), f"{len(found)} of the {len(messages)} poison messages dead-lettered"
        return found

    letters = await eventually(both_dead_lettered, timeout=10)
    errors = {kind: letters[value]["dlq_error"].decode() for kind, value in messages.items()}  # strict UTF-8
    for kind, value in messages.items():
        print(f"  dead letter ({kind}) from {letters[value]['dlq_source'].decode()} by "
              f"{letters[value]['dlq_consumer'].decode()}: {errors[kind][:150]!r}")  # fmt: skip
    assert {letters[v]["dlq_consumer"] for v in messages.values()} == {b"materials"}
    assert errors["garbage"].strip()
    assert CONFIRMED in errors["schema"] and "booking_id" in errors["schema"], errors["schema"]

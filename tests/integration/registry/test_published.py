"""A certificate suspension is published on `gmphub.registry.v1` through the real broker, keyed by
facility, with the state a consumer needs and the facility's version."""

import json
import time
import uuid

from aiokafka import AIOKafkaConsumer

from tests.integration.registry.helpers import create_facility, issue_certificate


async def test_a_suspension_is_published_on_the_registry_topic(registry, tokens, settings):
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid)
    started = time.perf_counter()
    suspended = await registry.client.post(f"/v1/certificates/{cert['certificate_id']}/suspend",
                                           json={"reason": "Sterility test failures"},
                                           headers=tokens.regulator("DE-PEI"))  # fmt: skip
    assert suspended.status_code == 200

    consumer = AIOKafkaConsumer(
        "gmphub.registry.v1",
        bootstrap_servers=settings.kafka_servers,
        group_id=f"test-registry-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
        # the broker holds a new member's join for about half its session timeout: keep it short
        session_timeout_ms=1000,
        heartbeat_interval_ms=100,
    )
    await consumer.start()
    seen: list[tuple[bytes, dict]] = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            e["type"] == "gmphub.registry.certificate.suspended.v1" for _, e in seen
        ):
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                seen += [(r.key, json.loads(r.value)) for r in records if r.key == fid.encode()]
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()

    types = [e["type"] for _, e in seen]
    assert types == [
        "gmphub.registry.facility.registered.v1",
        "gmphub.registry.certificate.issued.v1",
        "gmphub.registry.certificate.suspended.v1",
    ], types
    envelope = seen[-1][1]
    assert envelope["subject"] == fid and envelope["specversion"] == "1.0"
    assert envelope["actor"] == "regulator:inspector-1"
    data = envelope["data"]
    assert data["facility_id"] == fid and data["version"] == 3
    assert data["certificate"]["status"] == "suspended"
    assert data["certificate"]["reason"] == "Sterility test failures"
    assert data["certificate"]["certificate_id"] == cert["certificate_id"]
    assert data["certificate"]["atmp_types"] == ["gene_therapy"]
    print(f"suspension read from the broker {elapsed * 1000:.0f} ms after the request returned (group join included)")

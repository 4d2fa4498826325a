"""Certificates past their expiry date become `expired` by themselves, with one event each, however
many replicas run the job at once."""

import asyncio
from dataclasses import replace
from datetime import date, timedelta

from services.registry.jobs import certificate_expiry_job, expire_certificates
from tests.integration.registry.helpers import create_facility, issue_certificate
from tests.support import eventually

EXPIRED = "gmphub.registry.certificate.expired.v1"


async def backdate(registry, certificate_id: str, expires_on: date) -> None:
    await registry.sql(
        "UPDATE certificate SET issued_on = :issued, expires_on = :expires WHERE id = :id",
        issued=expires_on - timedelta(days=365), expires=expires_on, id=certificate_id,
    )  # fmt: skip


async def test_replicas_racing_expire_each_certificate_once(registry, tokens):
    today = date.today()
    fid = (await create_facility(registry, tokens))["facility_id"]
    pei = tokens.regulator("DE-PEI")
    due = [await issue_certificate(registry, tokens, fid, number=f"DUE-{i}") for i in range(3)]
    suspended, revoked, last_day = [await issue_certificate(registry, tokens, fid, number=n) for n in ("S", "R", "L")]
    await registry.client.post(
        f"/v1/certificates/{suspended['certificate_id']}/suspend", json={"reason": "findings"}, headers=pei
    )
    await registry.client.post(
        f"/v1/certificates/{revoked['certificate_id']}/revoke", json={"reason": "fraud"}, headers=pei
    )
    for cert in (*due, suspended, revoked):
        await backdate(registry, cert["certificate_id"], today - timedelta(days=1))
    await backdate(registry, last_day["certificate_id"], today)  # in force through its expiry day
    version_before = (await registry.sql("SELECT version FROM facility"))[0][0]

    done = await asyncio.gather(*(expire_certificates(registry.context, today) for _ in range(4)))

    assert sum(done) <= 4  # the hub's own job may have taken some
    events = await registry.outbox_events(EXPIRED)
    expired_ids = sorted(e["data"]["certificate"]["certificate_id"] for e in events)
    assert expired_ids == sorted(c["certificate_id"] for c in (*due, suspended))
    assert all(e["data"]["certificate"]["status"] == "expired" for e in events)
    assert sorted(e["data"]["version"] for e in events) == list(range(version_before + 1, version_before + 5))
    statuses = dict(await registry.sql("SELECT number, status FROM certificate"))
    assert statuses == {"DUE-0": "expired", "DUE-1": "expired", "DUE-2": "expired", "S": "expired", "R": "revoked",
                        "L": "valid"}  # fmt: skip
    assert await expire_certificates(registry.context, today) == 0
    assert len(await registry.outbox_events(EXPIRED)) == 4


async def test_the_background_job_expires_by_itself(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid)
    await backdate(registry, cert["certificate_id"], date.today() - timedelta(days=1))
    fast = replace(
        registry.context, settings=registry.context.settings.model_copy(update={"job_interval_seconds": 0.05})
    )
    job = asyncio.create_task(certificate_expiry_job(fast))
    try:

        async def expired():
            events = await registry.outbox_events(EXPIRED)
            assert events, "not expired yet"
            return events

        [event] = await eventually(expired, timeout=3.0)
        assert event["actor"] == "service:registry-expiry"
        await asyncio.sleep(0.2)  # a few more rounds change nothing
        assert len(await registry.outbox_events(EXPIRED)) == 1
    finally:
        job.cancel()
    read = (await registry.client.get(f"/v1/certificates/{cert['certificate_id']}", headers=tokens.developer())).json()
    assert read["status"] == "expired"

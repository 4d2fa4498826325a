"""However many clients race for the same slots, no slot is held twice and every loser gets a
409: 200 concurrent attempts on 20 slots, spread over two instances of the service that share
the real database."""

import asyncio
import random
import time

from tests.integration.scheduling.helpers import another_instance, certified_site, publish

ATTEMPTS, SLOTS = 200, 20


async def test_two_instances_never_double_book(registry, scheduling, tokens, settings):
    site = await certified_site(registry, scheduling)
    slot_ids = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=SLOTS, hours=2)]
    async with another_instance(settings) as other:
        clients = [scheduling.client, other]
        rng = random.Random(5)
        headers = {f"ORG-{i}": tokens.developer(f"ORG-{i}") for i in range(7)}  # signing is slow: mint once
        # each attempt asks for one slot, or for two neighbouring slots (to exercise multi-slot locking)
        plans = []
        for i in range(ATTEMPTS):
            first = rng.randrange(SLOTS)
            wanted = [slot_ids[first]] if i % 3 else sorted({slot_ids[first], slot_ids[(first + 1) % SLOTS]})
            plans.append((clients[i % 2], wanted, f"ORG-{i % 7}"))

        async def attempt(client, wanted, org):
            body = {"slot_ids": wanted, "product": "CAR-T CD19", "run_kind": "development"}
            response = await client.post("/v1/bookings", json=body, headers=headers[org])
            return wanted, response

        started = time.monotonic()
        results = await asyncio.gather(*(attempt(*p) for p in plans))
        duration = time.monotonic() - started

    statuses = [r.status_code for _, r in results]
    winners = [(wanted, r.json()) for wanted, r in results if r.status_code == 201]
    losers = [r for _, r in results if r.status_code != 201]
    assert set(statuses) <= {201, 409}, sorted(set(statuses))
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in losers)
    held = [slot for _, booking in winners for slot in booking["slot_ids"]]
    assert len(held) == len(set(held)), "a slot was held twice"
    rows = await scheduling.sql("SELECT id::text AS id, status, booking_id::text AS b FROM slot")
    by_slot = {r.id: r for r in rows}
    assert sorted(held) == sorted(r.id for r in rows if r.status == "held")
    for wanted, booking in winners:
        assert all(by_slot[s].b == booking["booking_id"] for s in wanted)
    assert len(await scheduling.outbox_events("gmphub.scheduling.booking.held.v1")) == len(winners)
    print(
        f"\nrace: {ATTEMPTS} attempts on {SLOTS} slots over 2 instances: {len(winners)} winners, "
        f"{len(losers)} losers (all 409), {len(held)} slots held once each, {duration:.2f}s"
    )

"""A service dies (kill -9) in the middle of a batch of confirmations and is started again: first
materials (reserving for the sagas), then scheduling (taking confirmations and materials' answers).
Nothing in flight is lost or applied twice."""

import time

from tests.faults.bookings import BOOKINGS, in_background
from tests.faults.harness import LogMark
from tests.faults.truth import assert_settled, sagas_in_flight


async def test_materials_then_scheduling_killed_mid_batch_every_saga_finishes(running_hub, client):
    site = await client.certified_site(slots=BOOKINGS)
    bookings = await client.hold_bookings(site, BOOKINGS)
    mark = LogMark(running_hub.address.logs)
    half = BOOKINGS // 2
    in_flight = {}

    async with in_background(client.confirm_all(bookings[:half])) as confirming:
        await client.confirmations_reach(half // 2)
        await running_hub.kill_service("materials")
        in_flight["at the materials kill"] = await sagas_in_flight(running_hub.address, bookings)
        await running_hub.start_service("materials")
        await confirming

    async with in_background(client.confirm_all(bookings[half:])) as confirming:
        await client.confirmations_reach(half + half // 2)
        # The confirmations under way get no answer; the client looks at each before trying again.
        await running_hub.kill_service("scheduling")
        in_flight["at the scheduling kill"] = await sagas_in_flight(running_hub.address, bookings)
        restarted = time.monotonic()
        await running_hub.start_service("scheduling")
        await confirming

    await assert_settled("materials, then scheduling kill -9 mid-batch", client, site, bookings,
                         since=restarted, mark=mark, in_flight=in_flight)  # fmt: skip

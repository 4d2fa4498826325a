"""The broker dies (kill -9) while bookings are being confirmed and their sagas are under way, and
comes back empty on the same port: every saga still finishes, each exactly once."""

import time

from tests.faults.bookings import BOOKINGS, in_background
from tests.faults.harness import LogMark
from tests.faults.truth import assert_settled, sagas_in_flight


async def test_broker_killed_mid_saga_every_saga_finishes_after_its_restart(running_hub, client):
    site = await client.certified_site(slots=BOOKINGS)
    bookings = await client.hold_bookings(site, BOOKINGS)
    mark = LogMark(running_hub.address.logs)

    async with in_background(client.confirm_all(bookings)) as confirming:
        await client.confirmations_reach(BOOKINGS // 3)
        await running_hub.kill_broker()
        in_flight = await sagas_in_flight(running_hub.address, bookings)
        # Confirmations go on meanwhile: scheduling keeps their events in its outbox.
        await client.confirmations_reach(2 * BOOKINGS // 3)
        restarted = time.monotonic()
        await running_hub.start_broker()
        await confirming

    await assert_settled("broker kill -9 mid-saga", client, site, bookings, since=restarted, mark=mark,
                         in_flight={"at the kill": in_flight})  # fmt: skip

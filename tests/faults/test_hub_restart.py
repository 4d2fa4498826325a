"""The whole hub stopped with Ctrl-C (SIGINT to `gmp-hub up`) right after a batch of bookings was
confirmed, sagas still under way, then started again on the same data folder: nothing is lost
(the broker kept nothing, the databases everything) and every saga finishes."""

import time

from tests.faults.bookings import BOOKINGS, HubClient
from tests.faults.harness import LogMark
from tests.faults.truth import assert_settled, sagas_in_flight


async def test_hub_interrupted_mid_saga_and_started_again_every_saga_finishes(command_line_hub):
    ready_after = await command_line_hub.up()
    async with HubClient(command_line_hub.address) as client:
        site = await client.certified_site(slots=BOOKINGS)
        bookings = await client.hold_bookings(site, BOOKINGS)
        mark = LogMark(command_line_hub.address.logs)

        await client.confirm_all(bookings)
        in_flight = await sagas_in_flight(command_line_hub.address, bookings)
        code, survivors = await command_line_hub.interrupt()
        assert (code, survivors) == (0, []), f"gmp-hub up exited with {code}, leaving {survivors}"
        restarting = time.monotonic()
        ready_again_after = await command_line_hub.up()
        print(f"\ngmp-hub up ready in {ready_after:.1f} s, again after Ctrl-C in {ready_again_after:.1f} s")

        await assert_settled("gmp-hub up, Ctrl-C mid-saga, up again", client, site, bookings, since=restarting,
                             mark=mark, in_flight={"at Ctrl-C": in_flight})  # fmt: skip

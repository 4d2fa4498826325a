"""Two faults at once: materials is down, and meanwhile the broker restarts (kill -9, back empty on
the same port), losing the confirmations published to it that materials had not read yet. More
bookings are confirmed, then materials comes back: it catches up on all of them."""

import time

from tests.faults.bookings import BOOKINGS
from tests.faults.harness import LogMark
from tests.faults.truth import assert_settled, sagas_in_flight, unpublished
from tests.support import eventually


async def test_broker_restart_while_materials_is_down_materials_catches_up(running_hub, client):
    site = await client.certified_site(slots=BOOKINGS)
    bookings = await client.hold_bookings(site, BOOKINGS)
    mark = LogMark(running_hub.address.logs)
    first, second, third = bookings[:30], bookings[30:65], bookings[65:]

    await client.confirm_all(first)
    await running_hub.kill_service("materials")
    await client.confirm_all(second)

    async def all_published() -> bool:  # on the broker, unread: the events the broker is about to lose
        pending = await unpublished(running_hub.address, "scheduling")
        assert pending == 0, f"scheduling's relay has not published {pending} events"
        return True

    await eventually(all_published, timeout=30)
    in_flight = await sagas_in_flight(running_hub.address, bookings)
    await running_hub.kill_broker()
    await running_hub.start_broker()
    await client.confirm_all(third)
    restarted = time.monotonic()
    await running_hub.start_service("materials")

    await assert_settled("broker restart while materials is down", client, site, bookings, since=restarted,
                         mark=mark, in_flight={"at the broker kill": in_flight})  # fmt: skip

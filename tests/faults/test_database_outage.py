"""PostgreSQL stops (fast shutdown) for 10 s while requests keep coming and sagas are under way,
then starts again on the same data: meanwhile every request is answered 503 with Retry-After,
never 500; no event is dead-lettered for it; afterwards every saga finishes."""

import asyncio
import contextlib
import time
from collections import Counter

import httpx

from tests.faults.bookings import BOOKINGS, Answer, HubClient, Site, in_background
from tests.faults.harness import LogMark
from tests.faults.truth import assert_settled, sagas_in_flight

OUTAGE_SECONDS = 10.0


async def keep_reading(client: HubClient, site: Site, booking_id: str) -> None:
    """Reads on three services' databases, a few a second each, until cancelled."""
    reads = [
        ("scheduling", f"/v1/bookings/{booking_id}", client.developer()),
        ("scheduling", f"/v1/facilities/{site.facility_id}/slots", client.tokens.facility(site.facility_id)),
        ("materials", f"/v1/lots/{site.lot_ids[0]}", client.tokens.facility(site.facility_id)),
        ("registry", f"/v1/facilities/{site.facility_id}", client.tokens.admin()),
    ]
    while True:
        for service, path, headers in reads:
            with contextlib.suppress(httpx.TransportError):  # kept among the client's answers all the same
                await client.call("GET", service, path, headers=headers)
        await asyncio.sleep(0.05)


async def test_database_away_for_10_s_answers_503_with_retry_after_and_every_saga_finishes(running_hub, client):
    site = await client.certified_site(slots=BOOKINGS)
    bookings = await client.hold_bookings(site, BOOKINGS)
    mark = LogMark(running_hub.address.logs)

    async with in_background(client.confirm_all(bookings)) as confirming, \
            in_background(keep_reading(client, site, bookings[0])):  # fmt: skip
        await client.confirmations_reach(BOOKINGS // 3)
        in_flight = await sagas_in_flight(running_hub.address, bookings)
        await running_hub.stop_postgres()
        down = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)  # the fault lasts this long; the requests go on meanwhile
        up = time.monotonic()
        await running_hub.start_postgres()
        await confirming

    during = Counter(answer_kind(a) for a in client.answers if down <= a.sent and a.answered <= up)
    errors = Counter(f"{a.method} {a.path}" for a in client.answers if a.status == 500)
    print(f"\nduring the {OUTAGE_SECONDS:.0f} s outage: {during.total()} requests, {dict(during)}; "
          f"500s in the whole test: {errors.total()}")  # fmt: skip

    await assert_settled("PostgreSQL fast shutdown for 10 s", client, site, bookings, since=up, mark=mark,
                         in_flight={"at the shutdown": in_flight})  # fmt: skip
    assert not errors, f"500 answers: {dict(errors)}\n{mark.excerpt()}"
    assert during.total() > 0, "no request was made while the database was away"
    assert set(during) == {"503 with Retry-After"}, f"while the database was away: {dict(during)}\n{mark.excerpt()}"


def answer_kind(answer: Answer) -> str:
    if answer.status is None:
        return f"no answer ({answer.error})"
    return f"{answer.status} {'with' if answer.retry_after else 'without'} Retry-After"

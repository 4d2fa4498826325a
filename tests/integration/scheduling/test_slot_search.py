"""The slot search reads the matching suites first, then their slots: each suite's own first slots
merged when few suites match, a walk along the open slots when many do. Both answer the same."""

import asyncio
import uuid

from services.scheduling.queries import PER_SUITE_UP_TO
from tests.integration.scheduling.helpers import certified_site, publish


def in_order(items: list[dict]) -> bool:
    keys = [(s["starts_at"], uuid.UUID(s["slot_id"])) for s in items]
    return keys == sorted(keys)


async def test_few_and_many_matching_suites_answer_alike_page_by_page(registry, scheduling, tokens):
    countries = ["DE"] * 9 + ["FR"] * 9
    assert countries.count("DE") <= PER_SUITE_UP_TO < len(countries)  # DE: suite by suite; all: the walk
    sites = [await certified_site(registry, scheduling, country=c) for c in countries]
    # The same three start times on every suite: the order between suites rests on the slot ids.
    await asyncio.gather(*(publish(scheduling, tokens, site, count=3, hours=2) for site in sites))
    developer = tokens.developer()

    async def find(**params) -> dict:
        response = await scheduling.client.get("/v1/slots", params=params, headers=developer)
        assert response.status_code == 200, response.text
        return response.json()

    async def paged(size: int, **params) -> list[dict]:
        items, cursor = [], None
        while True:
            page = await find(limit=size, **params, **({"after": cursor} if cursor else {}))
            items += page["items"]
            if (cursor := page["next_cursor"]) is None:
                return items

    everything = (await find(limit=500))["items"]
    assert len(everything) == 54 and in_order(everything)
    assert {s["suite_id"] for s in everything} == {str(site.suite_id) for site in sites}
    assert await paged(7) == everything

    german = (await find(country="DE", limit=500))["items"]
    assert german == [s for s in everything if s["country"] == "DE"]
    assert await paged(4, country="DE") == german
    assert german[0]["facility_name"] and german[0]["cleanroom_grade"] == "B"
    assert (await find(country="IT"))["items"] == []

"""Quotes on manufacturing requests over the real database and broker: a facility quotes with one of
its open slots per batch, held for the quote (`quoted`, out of the search); it revises or declines;
the developer accepts one and the others are superseded; quotes run out. Released slots open again
and go to the waitlist first. Every refusal is problem+json and changes nothing; races never give
one slot to two."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from services.scheduling import jobs
from tests.integration.scheduling.helpers import (
    active_agreement,
    certified_site,
    hold,
    publish,
    quote_body,
    send_quote,
    send_request,
    slot_states,
)
from tests.integration.scheduling.test_relying import approved
from tests.support import eventually


def ids(slots: list[dict]) -> list[str]:
    return [s["slot_id"] for s in slots]


async def test_quotes_hold_their_slots_a_revision_swaps_them_and_accepting_one_supersedes_the_other(
    registry, scheduling, tokens
):
    a, b = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    a_slots, b_slots = ids(await publish(scheduling, tokens, a, count=4)), ids(await publish(scheduling, tokens, b))
    developer = tokens.developer("ORG-1")
    request = await send_request(scheduling, tokens, a.facility_id, b.facility_id)
    path = f"/v1/requests/{request['request_id']}"

    sent = await send_quote(scheduling, tokens, request, a.facility_id, a_slots[:2])
    assert sent.status_code == 201, sent.text
    quote_a = sent.json()
    assert (quote_a["status"], quote_a["revision"], quote_a["currency"]) == ("offered", 1, "EUR")
    assert (quote_a["price_per_batch"], quote_a["total"]) == ("48000.00", "99500.50")  # decimals, as text
    assert [q["slot_id"] for q in quote_a["batches"]] == a_slots[:2] and quote_a["batches"][1]["batch"] == 2
    quote_b = (await send_quote(scheduling, tokens, request, b.facility_id, b_slots[:2], currency="CHF")).json()
    assert await slot_states(scheduling, a_slots[:2]) == {s: ("quoted", quote_a["quote_id"], None) for s in a_slots[:2]}

    # Quoted slots are out of the search, and a developer's hold on one is refused.
    search = await scheduling.client.get(f"/v1/slots?facility_id={a.facility_id}", headers=developer)
    assert ids(search.json()["items"]) == a_slots[2:]
    refused = await hold(scheduling, tokens, [a_slots[0]])
    assert refused.status_code == 409 and "is quoted, not open" in refused.json()["detail"]

    # The developer sees both answers side by side; each facility only its own.
    seen = (await scheduling.client.get(path, headers=developer)).json()
    assert seen["status"] == "quoted"
    assert [(q["quote_id"], q["currency"]) for q in seen["quotes"]] == [
        (quote_a["quote_id"], "EUR"), (quote_b["quote_id"], "CHF")
    ]  # fmt: skip
    by_a = (await scheduling.client.get(path, headers=tokens.facility(a.facility_id))).json()
    assert [q["quote_id"] for q in by_a["quotes"]] == [quote_a["quote_id"]]
    other = await scheduling.client.get(f"{path}/quotes/{quote_b['quote_id']}", headers=tokens.facility(a.facility_id))
    assert other.status_code == 404

    # A revision keeps one slot, releases the other and holds a new one.
    revised = await scheduling.client.post(
        f"{path}/quotes/{quote_a['quote_id']}/revisions",
        json={**quote_body([a_slots[0], a_slots[3]]), "price_per_batch": "45000"},
        headers=tokens.facility(a.facility_id),
    )
    assert revised.status_code == 200, revised.text
    assert (revised.json()["revision"], revised.json()["price_per_batch"]) == (2, "45000.00")
    assert await slot_states(scheduling, a_slots) == {
        a_slots[0]: ("quoted", quote_a["quote_id"], None), a_slots[1]: ("open", None, None),
        a_slots[2]: ("open", None, None), a_slots[3]: ("quoted", quote_a["quote_id"], None),
    }  # fmt: skip

    # Only a developer of the organisation accepts: not the facility, not the hub operator.
    for headers in (tokens.facility(a.facility_id), tokens.admin()):
        refused = await scheduling.client.post(f"{path}/quotes/{quote_a['quote_id']}/accept", headers=headers)
        assert refused.status_code == 403 and "Only a developer of ORG-1" in refused.json()["detail"]

    # The developer accepts A's quote: B's is superseded and its slots open; A's are held for the
    # campaign it became, one booking per batch (tests/integration/scheduling/test_campaigns.py).
    accepted = await scheduling.client.post(f"{path}/quotes/{quote_a['quote_id']}/accept", headers=developer)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert {s: v[0] for s, v in (await slot_states(scheduling, b_slots[:2])).items()} == dict.fromkeys(
        b_slots[:2], "open"
    )
    assert {v[:2] for v in (await slot_states(scheduling, [a_slots[0], a_slots[3]])).values()} == {("held", None)}
    assert accepted.json()["campaign_id"] is not None
    seen = (await scheduling.client.get(path, headers=developer)).json()
    assert (seen["status"], seen["accepted_quote_id"]) == ("accepted", quote_a["quote_id"])
    assert [(q["status"], q["status_reason"]) for q in seen["quotes"]] == [
        ("accepted", None), ("superseded", f"Quote {quote_a['quote_id']} was accepted.")
    ]  # fmt: skip

    # Accepting again, or the superseded quote, is refused and changes nothing.
    for quote_id, said in ((quote_a["quote_id"], "is accepted"), (quote_b["quote_id"], "is superseded")):
        again = await scheduling.client.post(f"{path}/quotes/{quote_id}/accept", headers=developer)
        assert again.status_code == 409 and said in again.json()["detail"], again.text
        assert again.headers["content-type"].startswith("application/problem+json")

    # Every step, with its actor, in the request's history; B's user sees its own quote's only.
    history = (await scheduling.client.get(f"{path}/history", headers=developer)).json()
    assert [(e["type"].split(".")[2:4], e["actor"]) for e in history] == [
        (["request", "sent"], "developer:dev-1"), (["request", "received"], "developer:dev-1"),
        (["request", "received"], "developer:dev-1"), (["quote", "sent"], "facility:facility-user-1"),
        (["quote", "sent"], "facility:facility-user-1"), (["quote", "revised"], "facility:facility-user-1"),
        (["quote", "superseded"], "developer:dev-1"), (["quote", "accepted"], "developer:dev-1"),
    ]  # fmt: skip
    accepted_event = history[-1]["data"]
    assert accepted_event["request"]["status"] == "accepted"
    assert [b["slot_id"] for b in accepted_event["quote"]["batches"]] == [a_slots[0], a_slots[3]]  # the hook
    assert history[5]["data"]["released_slot_ids"] == [a_slots[1]]
    b_history = (await scheduling.client.get(f"{path}/history", headers=tokens.facility(b.facility_id))).json()
    assert [e["data"].get("quote_id") for e in b_history] == [None, None, quote_b["quote_id"], quote_b["quote_id"]]
    assert b_history[1]["data"]["facility_id"] == str(b.facility_id)  # its own request.received only


async def test_bad_quotes_are_refused_as_problems_and_change_nothing(registry, scheduling, tokens):
    site, elsewhere = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    slots = ids(await publish(scheduling, tokens, site, count=4))
    foreign = ids(await publish(scheduling, tokens, elsewhere, count=1))
    booked = await hold(scheduling, tokens, [slots[3]])
    assert booked.status_code == 201
    request = await send_request(scheduling, tokens, site.facility_id)
    late = await send_request(
        scheduling, tokens, site.facility_id, earliest_start=str((datetime.now(UTC) + timedelta(days=30)).date())
    )
    soon = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    too_far = (datetime.now(UTC) + timedelta(days=91)).isoformat()
    before = await slot_states(scheduling, slots + foreign)

    cases = [
        (request, slots[:1], {}, 422, "propose one slot per batch, not 1"),
        (request, [slots[0], foreign[0]], {}, 403, "quotes its own suites' slots only"),
        (request, [slots[0], slots[3]], {}, 409, "is held, not open"),
        (request, [slots[0], slots[0]], {}, 422, "listed twice"),
        (request, [slots[0], str(uuid.uuid4())], {}, 404, "No slots"),
        (request, slots[:2], {"price_per_batch": 48000.0}, 422, "decimal text"),
        (request, slots[:2], {"price_per_batch": "48000.001"}, 422, "decimal text"),
        (request, slots[:2], {"price_per_batch": "-1.00"}, 422, "decimal text"),
        (request, slots[:2], {"extras": [{"label": "Testing", "amount": "1e3"}]}, 422, "decimal text"),
        (request, slots[:2], {"currency": "XYZ"}, 422, "not an ISO 4217 currency"),
        (request, slots[:2], {"currency": "eur"}, 422, "pattern"),
        (request, slots[:2], {"valid_until": soon}, 422, "must lie in the future"),
        (request, slots[:2], {"valid_until": too_far}, 422, "at most 90 days ahead"),
        (late, slots[:2], {}, 422, "outside the request's time frame"),
    ]
    for target, proposed, fields, code, said in cases:
        response = await send_quote(scheduling, tokens, target, site.facility_id, proposed, **fields)
        assert response.status_code == code and said in response.text, (fields, proposed, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    # A facility the request is not addressed to does not see it; a developer does not quote.
    unaddressed = await send_quote(scheduling, tokens, request, elsewhere.facility_id, foreign)
    assert unaddressed.status_code == 404
    by_developer = await scheduling.client.post(
        f"/v1/requests/{request['request_id']}/quotes", json=quote_body(slots[:2]), headers=tokens.developer("ORG-1")
    )
    assert by_developer.status_code == 403
    assert await slot_states(scheduling, slots + foreign) == before
    assert await scheduling.sql("SELECT id FROM quote") == []
    assert await scheduling.outbox_events("gmphub.scheduling.quote.sent.v1") == []

    # One offered quote per facility and request: a second one is refused (revise instead).
    first = await send_quote(scheduling, tokens, request, site.facility_id, slots[:2])
    assert first.status_code == 201
    second = await send_quote(scheduling, tokens, request, site.facility_id, [slots[2], slots[2]])
    assert second.status_code == 409 and "revise it instead" in second.json()["detail"]


async def test_a_declined_quote_releases_its_slots_to_the_waitlist_and_an_expired_one_cannot_be_accepted(
    registry, scheduling, tokens
):
    site = await certified_site(registry, scheduling)
    slots = ids(await publish(scheduling, tokens, site, count=4))
    facility, developer = tokens.facility(site.facility_id), tokens.developer("ORG-1")
    request = await send_request(scheduling, tokens, site.facility_id)
    path = f"/v1/requests/{request['request_id']}"
    quote = (await send_quote(scheduling, tokens, request, site.facility_id, slots[:2])).json()
    # Others wait for a slot at the facility: the open ones go to the first in line at once.
    entries = []
    for org in ("ORG-2", "ORG-2", "ORG-3"):
        joined = await scheduling.client.post(
            "/v1/waitlist", json={"product": "AAV9", "run_kind": "development", "facility_id": str(site.facility_id)},
            headers=tokens.developer(org),
        )  # fmt: skip
        entries.append(joined.json()["status"])
    assert entries == ["offered", "offered", "waiting"]  # the two open slots; the quoted ones are not offered

    no_reason = await scheduling.client.post(f"{path}/quotes/{quote['quote_id']}/decline", json={}, headers=facility)
    assert no_reason.status_code == 422
    by_developer = await scheduling.client.post(
        f"{path}/quotes/{quote['quote_id']}/decline", json={"reason": "Not ours"}, headers=developer
    )
    assert by_developer.status_code == 403
    declined = await scheduling.client.post(
        f"{path}/quotes/{quote['quote_id']}/decline", json={"reason": "Suite needed for a validation run"},
        headers=facility,
    )  # fmt: skip
    assert declined.status_code == 200, declined.text
    assert (declined.json()["status"], declined.json()["status_reason"]) == (
        "declined", "Suite needed for a validation run"
    )  # fmt: skip
    # The first released slot went to the waiting entry (a hold), the other is open.
    states = await slot_states(scheduling, slots[:2])
    assert sorted(v[0] for v in states.values()) == ["held", "open"]
    waiting = (await scheduling.client.get("/v1/waitlist", headers=tokens.developer("ORG-3"))).json()
    assert [e["status"] for e in waiting] == ["offered"]

    # A new quote that runs out: refused once past valid_until, expired by the job, its slots released.
    open_slot = next(s for s, v in states.items() if v[0] == "open")
    other = await certified_site(registry, scheduling)
    second_request = await send_request(scheduling, tokens, site.facility_id, other.facility_id, batches=1)
    running_out = (await send_quote(scheduling, tokens, second_request, site.facility_id, [open_slot])).json()
    await scheduling.sql(
        "UPDATE quote SET valid_until = now() - interval '1 second' WHERE id = :q",
        q=uuid.UUID(running_out["quote_id"]),
    )
    second_path = f"/v1/requests/{second_request['request_id']}/quotes/{running_out['quote_id']}"
    late = await scheduling.client.post(f"{second_path}/accept", headers=developer)
    assert late.status_code == 409 and "expired at" in late.json()["detail"]
    await jobs.expire_quotes_once(scheduling.context)  # the job may have run already: either way once

    async def expired():
        return (await scheduling.client.get(second_path, headers=developer)).json()["status"] == "expired"

    await eventually(expired, timeout=5.0)
    assert len(await scheduling.outbox_events("gmphub.scheduling.quote.expired.v1")) == 1
    assert (await slot_states(scheduling, [open_slot]))[open_slot] == ("open", None, None)
    history = (await scheduling.client.get(f"/v1/requests/{second_request['request_id']}/history",
                                           headers=developer)).json()  # fmt: skip
    assert (history[-1]["type"], history[-1]["actor"]) == (
        "gmphub.scheduling.quote.expired.v1", "service:scheduling-quote-expiry"
    )  # fmt: skip
    assert "not accepted by then" in history[-1]["data"]["reason"]


async def test_accepting_a_clinical_quote_needs_an_active_technical_agreement(registry, scheduling, approvals, tokens):
    site = await certified_site(registry, scheduling)
    slots = ids(await publish(scheduling, tokens, site, count=2))
    approval_id = await approved(approvals, scheduling, site.facility_id, "DE-PEI")
    request = await send_request(
        scheduling, tokens, site.facility_id, run_kind="clinical", approval_id=str(approval_id)
    )
    quote = (await send_quote(scheduling, tokens, request, site.facility_id, slots)).json()
    path = f"/v1/requests/{request['request_id']}/quotes/{quote['quote_id']}/accept"

    refused = await scheduling.client.post(path, headers=tokens.developer("ORG-1"))
    assert refused.status_code == 409, refused.text
    assert (refused.json()["rule"], refused.json()["facility_id"]) == (
        "technical_agreement_required", str(site.facility_id)
    )  # fmt: skip
    assert (await scheduling.client.get(f"/v1/requests/{request['request_id']}", headers=tokens.developer())).json()[
        "status"
    ] == "quoted"
    assert await scheduling.outbox_events("gmphub.scheduling.quote.accepted.v1") == []

    await active_agreement(scheduling, tokens, site.facility_id)
    accepted = await scheduling.client.post(path, headers=tokens.developer("ORG-1"))
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text


async def test_races_never_give_a_slot_to_two_and_accept_one_quote_of_a_request(registry, scheduling, tokens):
    site, other = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    slots = ids(await publish(scheduling, tokens, site, count=8, hours=2))
    other_slots = ids(await publish(scheduling, tokens, other, count=2, hours=2))

    # Two quotes (on two requests) and two developer holds race for the same slot: exactly one wins.
    for slot in slots[:4]:
        requests = [await send_request(scheduling, tokens, site.facility_id, batches=1) for _ in range(2)]
        results = await asyncio.gather(
            *(send_quote(scheduling, tokens, r, site.facility_id, [slot]) for r in requests),
            *(hold(scheduling, tokens, [slot], org=f"ORG-{i}") for i in (7, 8)),
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [201, 409, 409, 409], [r.text for r in results]
        status, quote_id, booking_id = (await slot_states(scheduling, [slot]))[slot]
        assert (status == "quoted") == (quote_id is not None) and (status == "held") == (booking_id is not None)

    # Two quotes of one request accepted at once: exactly one is accepted, the other superseded.
    request = await send_request(scheduling, tokens, site.facility_id, other.facility_id, batches=2)
    mine = (await send_quote(scheduling, tokens, request, site.facility_id, slots[4:6])).json()
    theirs = (await send_quote(scheduling, tokens, request, other.facility_id, other_slots)).json()
    path = f"/v1/requests/{request['request_id']}/quotes"
    results = await asyncio.gather(
        *(scheduling.client.post(f"{path}/{q['quote_id']}/accept", headers=tokens.developer()) for q in (mine, theirs))
    )
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    seen = (await scheduling.client.get(f"/v1/requests/{request['request_id']}", headers=tokens.developer())).json()
    assert sorted(q["status"] for q in seen["quotes"]) == ["accepted", "superseded"]
    winner = next(q for q in seen["quotes"] if q["status"] == "accepted")
    assert seen["accepted_quote_id"] == winner["quote_id"]
    loser_slots = other_slots if winner["quote_id"] == mine["quote_id"] else slots[4:6]
    assert {v[0] for v in (await slot_states(scheduling, loser_slots)).values()} == {"open"}
    assert len(await scheduling.outbox_events("gmphub.scheduling.quote.accepted.v1")) == 1

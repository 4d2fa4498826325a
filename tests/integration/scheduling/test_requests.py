"""Manufacturing requests over the real database and broker: a developer sends one to facilities
scheduling knows, they see it (each its own quote only), the developer withdraws it or a facility
declines it, their offered quotes ending with it and their slots released. Every refusal is
problem+json and changes nothing; every step is an event, with its actor and reason, in the
request's history and on the topic."""

import json
import uuid

from services.registry import events as reg
from services.scheduling import requests
from tests.integration.scheduling.helpers import (
    certified_site,
    feed,
    publish,
    request_body,
    send_quote,
    send_request,
    slot_states,
)
from tests.integration.scheduling.test_relying import approved
from tests.support import eventually, read_topic

TOPIC = "gmphub.scheduling.v1"
SENT, RECEIVED = "gmphub.scheduling.request.sent.v1", "gmphub.scheduling.request.received.v1"


async def test_a_request_is_sent_to_facilities_who_see_it_and_nobody_else_does(registry, scheduling, tokens, settings):
    a, b = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    developer = tokens.developer("ORG-1")
    request = await send_request(scheduling, tokens, a.facility_id, b.facility_id, batches=3)
    assert (request["status"], request["org_id"], request["batches"], request["quotes"]) == ("open", "ORG-1", 3, [])
    assert request["facility_ids"] == [str(a.facility_id), str(b.facility_id)]
    assert request["attachments"][0]["url"] == "https://docs.example.org/cd19-process.pdf"
    path = f"/v1/requests/{request['request_id']}"

    for headers, code in (
        (developer, 200), (tokens.facility(a.facility_id), 200), (tokens.facility(b.facility_id), 200),
        (tokens.regulator(), 200), (tokens.admin(), 200),  # inspection; the hub operator
        (tokens.developer("ORG-2"), 404), (tokens.facility(uuid.uuid4()), 404),
    ):  # fmt: skip
        assert (await scheduling.client.get(path, headers=headers)).status_code == code, headers

    # A facility's user learns only that the request was sent to their facility, not to which others.
    by_a = (await scheduling.client.get(path, headers=tokens.facility(a.facility_id))).json()
    assert by_a["facility_ids"] == [str(a.facility_id)]
    a_history = (await scheduling.client.get(f"{path}/history", headers=tokens.facility(a.facility_id))).json()
    assert a_history[0]["data"]["request"]["facility_ids"] == [str(a.facility_id)]

    listed = await scheduling.client.get("/v1/orgs/ORG-1/requests?status=open", headers=developer)
    assert [r["request_id"] for r in listed.json()] == [request["request_id"]]
    assert (await scheduling.client.get("/v1/orgs/ORG-1/requests?status=quoted", headers=developer)).json() == []
    assert (
        await scheduling.client.get("/v1/orgs/ORG-1/requests", headers=tokens.developer("ORG-2"))
    ).status_code == 403
    addressed = await scheduling.client.get(
        f"/v1/facilities/{a.facility_id}/requests", headers=tokens.facility(a.facility_id)
    )
    assert [r["request_id"] for r in addressed.json()] == [request["request_id"]]
    elsewhere = await certified_site(registry, scheduling)
    none = await scheduling.client.get(
        f"/v1/facilities/{elsewhere.facility_id}/requests", headers=tokens.facility(elsewhere.facility_id)
    )
    assert none.json() == []
    foreign = await scheduling.client.get(
        f"/v1/facilities/{a.facility_id}/requests", headers=tokens.facility(b.facility_id)
    )
    assert foreign.status_code == 403

    history = (await scheduling.client.get(f"{path}/history", headers=developer)).json()
    assert [(e["type"], e["actor"], e["data"].get("facility_id")) for e in history] == [
        (SENT, "developer:dev-1", None), (RECEIVED, "developer:dev-1", str(a.facility_id)),
        (RECEIVED, "developer:dev-1", str(b.facility_id)),
    ]  # fmt: skip
    assert history[0]["data"]["request"]["needs"] == "Closed-system processing; QP release on site."
    # Each facility is told of it as it sees it: addressed to it alone.
    assert [e["data"]["request"]["facility_ids"] for e in history[1:]] == [[str(a.facility_id)], [str(b.facility_id)]]
    a_told = [(e["type"], e["data"].get("facility_id")) for e in a_history]
    assert a_told == [(SENT, None), (RECEIVED, str(a.facility_id))]

    async def on_the_topic():
        records = await read_topic(settings.kafka_bootstrap_servers, TOPIC)
        types = [json.loads(r.value)["type"] for r in records if r.key == request["request_id"].encode()]
        assert types == [SENT, RECEIVED, RECEIVED], types
        return types

    await eventually(on_the_topic, timeout=10.0)


async def test_bad_requests_are_refused_as_problems_and_change_nothing(registry, scheduling, approvals, tokens):
    site, other = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    inactive = await certified_site(registry, scheduling)
    facility = reg.FacilityState(
        facility_id=inactive.facility_id, version=inactive.next_version(), legal_name="Closed unit", kind="hospital",
        country="DE", city="Berlin", address="x", contact_email="qa@gmp.example.org",
        authorisation_number="DE_BE_01_MIA_2024_0043", authorisation_authority="DE-LAGeSo", active=False,
    )  # fmt: skip
    await feed(registry, reg.FacilityDeactivated(facility_id=inactive.facility_id, version=facility.version,
                                                 facility=facility, reason="Authorisation withdrawn"))  # fmt: skip

    async def deactivated():
        rows = await scheduling.sql("SELECT active FROM facility_view WHERE facility_id = :f", f=inactive.facility_id)
        return rows[0].active is False

    await eventually(deactivated, timeout=5.0)
    approval_id = await approved(approvals, scheduling, site.facility_id, "DE-PEI")
    unknown = uuid.uuid4()
    f = site.facility_id
    cases = [
        (tokens.developer(), request_body(unknown), 422, f"Facility {unknown} is not an active facility"),
        (tokens.developer(), request_body(inactive.facility_id), 422, "is not an active facility"),
        (tokens.developer(), request_body(f, f), 422, "each facility once"),
        (tokens.developer(), request_body(*(uuid.uuid4() for _ in range(21))), 422, "at most 20"),
        (tokens.developer(), request_body(), 422, "at least 1"),
        (tokens.developer(), request_body(f, batches=0), 422, "greater than or equal to 1"),
        (tokens.developer(), request_body(f, batches=51), 422, "less than or equal to 50"),
        (tokens.developer(), request_body(f, batch_days=366), 422, "less than or equal to 365"),
        (tokens.developer(), request_body(f, latest_end="2020-01-01"), 422, "must lie after earliest_start"),
        (tokens.developer(), request_body(f, earliest_start="2020-01-01", latest_end="2020-02-01"), 422, "in the past"),
        (tokens.developer(), request_body(f, earliest_start=20270101), 422, "ISO 8601"),
        (tokens.developer(), request_body(f, run_kind="clinical"), 422, "needs approval_id"),
        (tokens.developer("ORG-2"), request_body(f, run_kind="clinical", approval_id=str(approval_id)), 422,
         "held by another organisation"),
        (tokens.developer(), request_body(f, other.facility_id, run_kind="clinical", approval_id=str(approval_id)),
         422, f"does not cover facility {other.facility_id}"),
        (tokens.developer(), request_body(f, attachments=[{"title": "x", "url": "not a url"}]), 422, "URL"),
        (tokens.developer(), request_body(f, attachments=[{"title": "x", "url": "https://a.eu"}] * 21), 422,
         "at most 20"),
        (tokens.developer(), request_body(f, needs="x" * 5001), 422, "at most 5000"),
        (tokens.facility(f), request_body(f), 403, "sent by a developer"),
        (tokens.regulator(), request_body(f), 403, "sent by a developer"),
    ]  # fmt: skip
    for headers, body, code, said in cases:
        response = await scheduling.client.post("/v1/requests", json=body, headers=headers)
        assert response.status_code == code and said in response.text, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await scheduling.sql("SELECT id FROM manufacturing_request") == []
    assert await scheduling.outbox_events("gmphub.scheduling.request.sent.v1") == []


def matched(**match) -> dict:
    """A request to the facilities the match finds, instead of named ones."""
    return {k: v for k, v in request_body().items() if k != "facility_ids"} | {"match": match}


async def test_a_match_sends_the_request_to_every_facility_that_fits_and_to_no_other(registry, scheduling, tokens):
    fr_a = await certified_site(registry, scheduling, country="FR", grade="A")
    fr_b = await certified_site(registry, scheduling, country="FR", grade="B")
    await certified_site(registry, scheduling, country="DE")  # another country
    await certified_site(registry, scheduling, country="FR", processes=("car_t",))  # not the request's process
    await certified_site(registry, scheduling, country="FR", atmp_types=("tissue_engineered",))  # nor its ATMP type
    developer = tokens.developer("ORG-1")

    for match, fitting in (
        ({"country": "FR"}, [fr_a, fr_b]),
        ({"country": "FR", "cleanroom_grade": "A"}, [fr_a]),
        ({"country": "FR", "atmp_type": "gene_therapy", "process": "viral_vector_production"}, [fr_a, fr_b]),
    ):
        response = await scheduling.client.post("/v1/requests", json=matched(**match), headers=developer)
        assert response.status_code == 201, response.text
        assert response.json()["facility_ids"] == sorted(str(s.facility_id) for s in fitting), match
    for site, count in ((fr_a, 3), (fr_b, 2)):  # each reads the requests addressed to it
        listed = await scheduling.client.get(
            f"/v1/facilities/{site.facility_id}/requests", headers=tokens.facility(site.facility_id)
        )
        assert len(listed.json()) == count
        assert {tuple(r["facility_ids"]) for r in listed.json()} == {(str(site.facility_id),)}


async def test_a_match_that_finds_none_or_too_many_or_is_ill_formed_is_refused_and_stores_nothing(
    registry, scheduling, tokens, monkeypatch
):
    site = await certified_site(registry, scheduling, country="FR")
    await certified_site(registry, scheduling, country="FR")
    monkeypatch.setattr(requests, "MAX_ADDRESSED_FACILITIES", 1)  # two fit: too many, as 21 would be
    named = request_body(site.facility_id)
    cases = [
        (matched(country="IT"), "No active, certified facility has a suite that fits the match"),
        (matched(country="FR"), "More than 1 facilities fit the match: narrow it"),
        (named | {"match": {"country": "FR"}}, "either by facility_ids or by a match"),
        ({k: v for k, v in named.items() if k != "facility_ids"}, "either by facility_ids or by a match"),
        (matched(country="FR", process="car_t"), "the request's own atmp_type and process"),
        (matched(country="FR", atmp_type="somatic_cell_therapy"), "the request's own atmp_type and process"),
        (matched(country="fr"), "should match pattern"),
        (matched(suite_id=str(uuid.uuid4())), "Extra inputs are not permitted"),
    ]
    for body, said in cases:
        response = await scheduling.client.post("/v1/requests", json=body, headers=tokens.developer())
        assert response.status_code == 422 and said in response.text, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await scheduling.sql("SELECT id FROM manufacturing_request") == []
    assert await scheduling.outbox_events(SENT) == [] and await scheduling.outbox_events(RECEIVED) == []


async def test_withdrawing_a_request_supersedes_its_quotes_and_releases_their_slots(registry, scheduling, tokens):
    site = await certified_site(registry, scheduling)
    slots = [s["slot_id"] for s in await publish(scheduling, tokens, site, count=2)]
    developer, facility = tokens.developer("ORG-1"), tokens.facility(site.facility_id)
    request = await send_request(scheduling, tokens, site.facility_id)
    quote = (await send_quote(scheduling, tokens, request, site.facility_id, slots)).json()
    path = f"/v1/requests/{request['request_id']}"

    for headers, body, code in (
        (developer, {}, 422),  # a reason is required
        (facility, {"reason": "Not ours to withdraw"}, 403),
        (tokens.developer("ORG-2"), {"reason": "Not ours to withdraw"}, 404),
    ):
        refused = await scheduling.client.post(f"{path}/withdraw", json=body, headers=headers)
        assert refused.status_code == code, refused.text
    assert {v[0] for v in (await slot_states(scheduling, slots)).values()} == {"quoted"}

    withdrawn = await scheduling.client.post(
        f"{path}/withdraw", json={"reason": "Programme paused after interim analysis"}, headers=developer
    )
    assert withdrawn.status_code == 200, withdrawn.text
    body = withdrawn.json()
    assert (body["status"], body["withdrawn_reason"]) == ("withdrawn", "Programme paused after interim analysis")
    assert [(q["status"], q["status_reason"]) for q in body["quotes"]] == [
        ("superseded", "The request was withdrawn: Programme paused after interim analysis")
    ]
    assert await slot_states(scheduling, slots) == dict.fromkeys(slots, ("open", None, None))

    again = await scheduling.client.post(f"{path}/withdraw", json={"reason": "Again"}, headers=developer)
    assert again.status_code == 409 and "is withdrawn" in again.json()["detail"]
    late = await send_quote(scheduling, tokens, request, site.facility_id, slots)
    assert late.status_code == 409 and "is withdrawn" in late.json()["detail"]
    accept = await scheduling.client.post(f"{path}/quotes/{quote['quote_id']}/accept", headers=developer)
    assert accept.status_code == 409

    history = (await scheduling.client.get(f"{path}/history", headers=facility)).json()
    assert [(e["type"].split(".")[2:4], e["actor"]) for e in history] == [
        (["request", "sent"], "developer:dev-1"), (["request", "received"], "developer:dev-1"),
        (["quote", "sent"], "facility:facility-user-1"), (["request", "withdrawn"], "developer:dev-1"),
        (["quote", "superseded"], "developer:dev-1"),
    ]  # fmt: skip
    assert history[3]["data"]["reason"] == "Programme paused after interim analysis"


async def test_a_facility_declines_a_request_for_itself_and_its_quote_with_it(registry, scheduling, tokens):
    a, b = await certified_site(registry, scheduling), await certified_site(registry, scheduling)
    a_slots = [s["slot_id"] for s in await publish(scheduling, tokens, a, count=2)]
    b_slots = [s["slot_id"] for s in await publish(scheduling, tokens, b, count=2)]
    request = await send_request(scheduling, tokens, a.facility_id, b.facility_id)
    path = f"/v1/requests/{request['request_id']}"
    quote = (await send_quote(scheduling, tokens, request, a.facility_id, a_slots)).json()
    both = tokens.facility(a.facility_id, b.facility_id)

    unnamed = await scheduling.client.post(f"{path}/decline", json={"reason": "No capacity"}, headers=both)
    assert unnamed.status_code == 422 and "name facility_id" in unnamed.json()["detail"]
    by_developer = await scheduling.client.post(f"{path}/decline", json={"reason": "No capacity"},
                                                headers=tokens.developer())  # fmt: skip
    assert by_developer.status_code == 403
    declined = await scheduling.client.post(
        f"{path}/decline", json={"reason": "Suite closed for refurbishment", "facility_id": str(a.facility_id)},
        headers=both,
    )  # fmt: skip
    assert declined.status_code == 200, declined.text
    body = declined.json()
    assert body["status"] == "quoted"  # b may still quote
    assert [(d["facility_id"], d["reason"], d["declined_by"]) for d in body["declines"]] == [
        (str(a.facility_id), "Suite closed for refurbishment", "facility:facility-user-1")
    ]
    assert [(q["quote_id"], q["status"]) for q in body["quotes"]] == [(quote["quote_id"], "declined")]
    assert await slot_states(scheduling, a_slots) == dict.fromkeys(a_slots, ("open", None, None))

    again = await scheduling.client.post(f"{path}/decline", json={"reason": "Again"},
                                         headers=tokens.facility(a.facility_id))  # fmt: skip
    assert again.status_code == 409 and "declined request" in again.json()["detail"]
    requote = await send_quote(scheduling, tokens, request, a.facility_id, a_slots)
    assert requote.status_code == 409
    b_quote = await send_quote(scheduling, tokens, request, b.facility_id, b_slots)
    assert b_quote.status_code == 201, b_quote.text

    # b's user sees neither a's decline nor a's quote, in the request or its history; the developer everything.
    by_b = (await scheduling.client.get(path, headers=tokens.facility(b.facility_id))).json()
    assert (by_b["facility_ids"], by_b["declines"], len(by_b["quotes"])) == ([str(b.facility_id)], [], 1)
    b_history = (await scheduling.client.get(f"{path}/history", headers=tokens.facility(b.facility_id))).json()
    assert [e["type"].split(".")[2:4] for e in b_history] == [["request", "sent"], ["request", "received"],
                                                              ["quote", "sent"]]  # fmt: skip
    history = (await scheduling.client.get(f"{path}/history", headers=tokens.developer())).json()
    assert [e["type"].split(".")[2:4] for e in history] == [
        ["request", "sent"], ["request", "received"], ["request", "received"], ["quote", "sent"],
        ["request", "declined"], ["quote", "declined"], ["quote", "sent"],
    ]  # fmt: skip
    assert (history[4]["data"]["facility_id"], history[4]["data"]["reason"]) == (
        str(a.facility_id), "Suite closed for refurbishment"
    )  # fmt: skip

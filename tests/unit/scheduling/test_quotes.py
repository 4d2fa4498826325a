"""Manufacturing requests and quotes: the rules of domain.py (money, time frames, validity, the
request's and the quote's states), and the use cases on an in-memory unit of work."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scheduling import models, quotes, requests
from services.scheduling.domain import (
    CURRENCIES,
    ManufacturingRequest,
    Period,
    Quote,
    QuoteStatus,
    RequestStatus,
    SlotStatus,
    check_currency,
    check_quoted_slots,
    check_request_window,
    check_validity,
    money,
)
from services.scheduling.schemas import QuoteIn, QuoteTermsIn, RequestIn
from shared.auth import Principal, Role
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from tests.unit.scheduling.fakes import FakeUnitOfWork, Site, certified_site, facility_user

TODAY = date(2027, 3, 1)
NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
DEVELOPER = Principal("dev-1", Role.DEVELOPER, org_id="ORG-1")


# --- the rules ----------------------------------------------------------------------------------


def test_money_is_a_decimal_of_at_least_zero_with_at_most_two_decimals_kept_in_cents():
    assert money(Decimal("48000"), "price") == Decimal("48000.00")
    assert str(money(Decimal("0.5"), "price")) == "0.50"
    assert money(Decimal("1.10"), "price") == Decimal("1.10")
    for amount, why in [
        (Decimal("-0.01"), "at least 0"),
        (Decimal("NaN"), "at least 0"),
        (Decimal("Infinity"), "at least 0"),
        (Decimal("1.001"), "at most 2 decimals"),
    ]:
        with pytest.raises(Unprocessable, match=why):
            money(amount, "price")


@given(st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False))
def test_any_amount_in_cents_is_money_and_keeps_its_value(amount):
    assert money(amount, "price") == amount
    assert money(amount, "price").as_tuple().exponent == -2


def test_a_currency_is_an_iso_4217_code():
    for code in ("EUR", "CHF", "GBP", "DKK", "SEK", "PLN", "USD"):
        check_currency(code)
    assert len(CURRENCIES) > 150 and all(len(c) == 3 and c.isupper() for c in CURRENCIES)
    for code in ("XYZ", "eur", "EURO", "XAU", ""):
        with pytest.raises(Unprocessable, match="ISO 4217"):
            check_currency(code)


def test_a_request_window_ends_after_it_starts_and_is_not_over():
    check_request_window(TODAY, TODAY + timedelta(days=1), TODAY)
    check_request_window(TODAY - timedelta(days=9), TODAY, TODAY)  # under way, not over
    with pytest.raises(Unprocessable, match="must lie after"):
        check_request_window(TODAY, TODAY, TODAY)
    with pytest.raises(Unprocessable, match="in the past"):
        check_request_window(TODAY - timedelta(days=9), TODAY - timedelta(days=1), TODAY)


def test_a_quote_proposes_one_slot_per_batch_within_the_time_frame():
    day = timedelta(days=1)
    slots = [Period(NOW + i * day, NOW + (i + 1) * day) for i in range(3)]
    check_quoted_slots(3, slots, TODAY, TODAY + 3 * day)
    with pytest.raises(Unprocessable, match="one slot per batch, not 3"):
        check_quoted_slots(2, slots, TODAY, TODAY + 3 * day)
    with pytest.raises(Unprocessable, match="outside the request's time frame"):
        check_quoted_slots(3, slots, TODAY, TODAY + 2 * day)
    with pytest.raises(Unprocessable, match="outside the request's time frame"):
        check_quoted_slots(3, slots, TODAY + day, TODAY + 3 * day)


def test_a_quote_is_valid_for_a_while_in_the_future_at_most_ninety_days():
    check_validity(NOW + timedelta(days=90), NOW)
    for valid_until, why in [
        (NOW, "in the future"),
        (NOW + timedelta(days=90, seconds=1), "at most 90 days"),
        (datetime(2027, 3, 2), "time zone"),
    ]:
        with pytest.raises(Unprocessable, match=why):
            check_validity(valid_until, NOW)


def test_a_request_is_quoted_once_accepted_or_withdrawn_once_and_declined_by_each_facility_once():
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    request = ManufacturingRequest(uuid.uuid4(), RequestStatus.OPEN, [a, b])
    with pytest.raises(Forbidden, match="not addressed"):
        request.require_quotable_by(c)
    assert request.quoted() and not request.quoted()
    assert request.status is RequestStatus.QUOTED
    with pytest.raises(Unprocessable, match="needs a reason"):
        request.decline(a, " ")
    request.decline(a, "No capacity")
    with pytest.raises(Conflict, match="declined request"):
        request.require_quotable_by(a)
    request.require_quotable_by(b)
    request.accept()
    for act in (request.accept, lambda: request.withdraw("late"), lambda: request.decline(b, "late")):
        with pytest.raises(Conflict, match="is accepted"):
            act()
    withdrawn = ManufacturingRequest(uuid.uuid4(), RequestStatus.OPEN, [a])
    with pytest.raises(Unprocessable, match="needs a reason"):
        withdrawn.withdraw("")
    withdrawn.withdraw("Programme paused")
    with pytest.raises(Conflict, match="is withdrawn"):
        withdrawn.accept()


def test_only_an_offered_unexpired_quote_is_revised_declined_or_accepted():
    quote = Quote(uuid.uuid4(), QuoteStatus.OFFERED, valid_until=NOW + timedelta(days=1))
    quote.revise(NOW)
    assert quote.revision == 2
    with pytest.raises(Conflict, match="expired at"):
        quote.accept(NOW + timedelta(days=1))  # the time decides, before the job runs
    assert not quote.expire(NOW)
    quote.accept(NOW)
    assert quote.status is QuoteStatus.ACCEPTED
    for act in (lambda: quote.accept(NOW), lambda: quote.revise(NOW), lambda: quote.decline("late", NOW)):
        with pytest.raises(Conflict, match="is accepted; only an offered quote"):
            act()
    assert not quote.expire(NOW + timedelta(days=9))  # an accepted quote never expires
    running_out = Quote(uuid.uuid4(), QuoteStatus.OFFERED, valid_until=NOW)
    assert running_out.expire(NOW) and running_out.status is QuoteStatus.EXPIRED
    assert not running_out.expire(NOW)


# --- the use cases on the in-memory unit of work ---------------------------------------------------


def _request_in(*facility_ids, batches: int = 2) -> RequestIn:
    return RequestIn(
        facility_ids=list(facility_ids), product="CAR-T CD19", atmp_type="gene_therapy",
        process="viral_vector_production", batches=batches, batch_days=1, earliest_start=date.today(),
        latest_end=date.today() + timedelta(days=60), run_kind="development",
    )  # fmt: skip


async def test_a_match_addresses_every_facility_that_fits_and_each_is_told_of_its_own_copy():
    uow = FakeUnitOfWork(actor="developer:dev-1")
    fits = [certified_site(uow.store, country="FR", grade=grade).facility_id for grade in ("A", "B")]
    certified_site(uow.store, country="DE")  # another country
    certified_site(uow.store, country="FR", processes=("car_t",))  # another process
    asked = _request_in(uuid.uuid4()).model_dump(exclude={"facility_ids"})
    by_match = RequestIn(**asked | {"match": {"country": "FR"}})
    request = await requests.send(uow, DEVELOPER, by_match)
    assert request.facility_ids == sorted(fits)
    assert uow.types() == ["request.sent", "request.received", "request.received"]
    told = {e.facility_id: e.request.facility_ids for e in uow.events[1:]}
    assert told == {f: [f] for f in fits}  # not whom else it was sent to

    graded = RequestIn(**asked | {"match": {"country": "FR", "cleanroom_grade": "A"}})
    assert (await requests.send(uow.next(), DEVELOPER, graded)).facility_ids == [fits[0]]
    nowhere = uow.next()
    with pytest.raises(Unprocessable, match="No active, certified facility"):
        await requests.send(nowhere, DEVELOPER, RequestIn(**asked | {"match": {"country": "IT"}}))
    for _ in range(19):
        certified_site(uow.store, country="FR")
    too_many = uow.next()
    with pytest.raises(Unprocessable, match="More than 20 facilities fit the match: narrow it"):
        await requests.send(too_many, DEVELOPER, by_match)
    assert nowhere.events == too_many.events == [] and len(uow.store.requests) == 2


def _terms(slot_ids, **fields) -> dict:
    return {"slot_ids": slot_ids, "currency": "EUR", "price_per_batch": "100", "extras": [],
            "valid_until": datetime.now(UTC) + timedelta(days=7), **fields}  # fmt: skip


async def test_a_revision_keeps_the_slots_it_still_proposes_and_releases_the_rest():
    uow = FakeUnitOfWork(actor="developer:dev-1")
    site = certified_site(uow.store, slots=4)
    request = await requests.send(uow, DEVELOPER, _request_in(site.facility_id))
    facility = uow.next("facility:qa-1")
    quote = await quotes.send(facility, facility_user(site), request.id, QuoteIn(**_terms(site.slot_ids[:2])))
    assert [uow.store.slots[s].status for s in site.slot_ids] == ["quoted", "quoted", "open", "open"]

    revising = uow.next("facility:qa-1")
    terms = QuoteTermsIn(**_terms([site.slot_ids[1], site.slot_ids[2]], price_per_batch="120.5"))
    revised = await quotes.revise(revising, facility_user(site), request.id, quote.id, terms, hold_ttl_seconds=900)
    assert (revised.revision, revised.price_per_batch, revised.total) == (2, Decimal("120.50"), Decimal("241.00"))
    assert [uow.store.slots[s].status for s in site.slot_ids] == ["open", "quoted", "quoted", "open"]
    assert {uow.store.slots[s].quote_id for s in site.slot_ids[1:3]} == {quote.id}
    [event] = revising.events
    assert (event.type, event.released_slot_ids) == ("gmphub.scheduling.quote.revised.v1", [site.slot_ids[0]])
    assert event.org_id == "ORG-1"  # what routes it to the developer's webhooks and stream

    # Another facility's user does not see the quote; the developer does not revise it.
    stranger = Principal("qa-9", Role.FACILITY, facility_ids=frozenset({str(uuid.uuid4())}))
    with pytest.raises(NotFound):
        await quotes.revise(uow.next(), stranger, request.id, quote.id, terms, hold_ttl_seconds=900)
    with pytest.raises(Forbidden):
        await quotes.revise(uow.next(), DEVELOPER, request.id, quote.id, terms, hold_ttl_seconds=900)


async def test_a_quote_proposes_slots_of_a_live_suite_that_runs_the_requests_process_only():
    uow = FakeUnitOfWork(actor="developer:dev-1")
    site = certified_site(uow.store, slots=2, processes=("car_t",))
    request = await requests.send(uow, DEVELOPER, _request_in(site.facility_id))  # by viral_vector_production
    quoting = uow.next("facility:qa-1")
    with pytest.raises(Unprocessable, match="does not run gene_therapy by viral_vector_production"):
        await quotes.send(quoting, facility_user(site), request.id, QuoteIn(**_terms(site.slot_ids)))
    suite = await uow.replicas.get(models.SuiteView, site.suite_id)
    assert suite is not None
    suite.processes, suite.retired = ["viral_vector_production"], True
    with pytest.raises(Conflict, match="is retired"):
        await quotes.send(quoting, facility_user(site), request.id, QuoteIn(**_terms(site.slot_ids)))
    assert quoting.events == [] and uow.store.quotes == {}
    assert [uow.store.slots[s].status for s in site.slot_ids] == ["open", "open"]


async def _quoted() -> tuple[FakeUnitOfWork, Site, models.ManufacturingRequest, models.Quote]:
    """A request to a certified site with two open slots, quoted on both."""
    uow = FakeUnitOfWork(actor="developer:dev-1")
    site = certified_site(uow.store, slots=2)
    request = await requests.send(uow, DEVELOPER, _request_in(site.facility_id))
    quote = await quotes.send(
        uow.next("facility:qa-1"), facility_user(site), request.id, QuoteIn(**_terms(site.slot_ids))
    )
    return uow, site, request, quote


async def test_the_job_expires_offered_quotes_past_their_validity_and_opens_their_slots():
    uow, site, request, quote = await _quoted()
    job = uow.next("service:scheduling-quote-expiry")
    assert await quotes.expire_run_out(job, hold_ttl_seconds=900) == []
    quote.valid_until = models.now() - timedelta(seconds=1)
    assert await quotes.expire_run_out(job, hold_ttl_seconds=900) == [quote.id]
    assert quote.status == QuoteStatus.EXPIRED and "not accepted by then" in (quote.status_reason or "")
    assert [uow.store.slots[s].status for s in site.slot_ids] == [SlotStatus.OPEN] * 2
    assert job.types() == ["quote.expired"] and job.events[0].org_id == "ORG-1"
    assert await quotes.expire_run_out(job, hold_ttl_seconds=900) == []


async def test_a_quote_is_accepted_only_while_its_facility_is_certified():
    uow, site, request, quote = await _quoted()
    [certificate] = [v for v in uow.store.views.values() if isinstance(v, models.CertificateView)]
    certificate.status = "suspended"
    accepting = uow.next()
    with pytest.raises(Conflict, match="no valid GMP certificate now; the quote cannot be accepted"):
        await quotes.accept(accepting, DEVELOPER, request.id, quote.id, hold_ttl_seconds=900)
    assert accepting.events == [] and uow.store.campaigns == {}
    assert [uow.store.slots[s].status for s in site.slot_ids] == [SlotStatus.QUOTED] * 2

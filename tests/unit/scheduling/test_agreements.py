"""Technical agreements (EU GMP Chapter 7): the rules of domain.py, and the use cases on an
in-memory unit of work, including the clinical confirmation that needs an active agreement."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.scheduling import agreements, bookings, models
from services.scheduling.domain import (
    TECHNICAL_AGREEMENT_RULE,
    Agreement,
    AgreementFacts,
    AgreementStatus,
    Period,
    RunKind,
    Side,
    check_agreement_terms,
    check_technical_agreement,
)
from services.scheduling.schemas import AgreementIn, AgreementSignatureIn, BookingIn
from shared.auth import Principal, Role
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.signatures import state_sha256
from tests.unit.scheduling.fakes import FakeUnitOfWork, Site, approval, certified_site, facility_user

TODAY = date(2027, 3, 1)
DEVELOPER = Principal("dev-1", Role.DEVELOPER, org_id="ORG-1")
STRANGER = Principal("dev-9", Role.DEVELOPER, org_id="ORG-9")


# --- the rules ----------------------------------------------------------------------------------


def test_terms_need_a_period_that_ends_after_it_begins_and_is_not_over_and_a_run_kind():
    check_agreement_terms(TODAY, TODAY + timedelta(days=1), ["clinical"], TODAY)
    for valid_from, valid_until, kinds, why in [
        (TODAY, TODAY, ["clinical"], "must lie after"),
        (TODAY - timedelta(days=9), TODAY - timedelta(days=1), ["clinical"], "in the past"),
        (TODAY, TODAY + timedelta(days=1), [], "at least one run kind"),
    ]:
        with pytest.raises(Unprocessable, match=why):
            check_agreement_terms(valid_from, valid_until, kinds, TODAY)


def test_an_agreement_is_active_once_both_sides_signed_each_once_and_ends_once():
    agreement = Agreement(uuid.uuid4(), AgreementStatus.DRAFT, valid_until=TODAY + timedelta(days=365))
    agreement.sign(Side.CONTRACT_ACCEPTOR, TODAY)
    assert agreement.status is AgreementStatus.SIGNED_BY_ONE
    with pytest.raises(Conflict, match="signed by its contract acceptor already"):
        agreement.sign(Side.CONTRACT_ACCEPTOR, TODAY)
    assert agreement.status is AgreementStatus.SIGNED_BY_ONE
    agreement.sign(Side.CONTRACT_GIVER, TODAY)
    assert agreement.status is AgreementStatus.ACTIVE
    with pytest.raises(Unprocessable, match="needs a reason"):
        agreement.terminate("  ")
    agreement.terminate("Programme moved elsewhere")
    assert agreement.status is AgreementStatus.TERMINATED
    with pytest.raises(Conflict, match="is terminated"):
        agreement.terminate("again")
    assert agreement.expire(TODAY + timedelta(days=999)) == []  # ended already: stays terminated


def test_an_agreement_expires_after_its_last_valid_day_and_is_no_longer_signed():
    agreement = Agreement(uuid.uuid4(), AgreementStatus.SIGNED_BY_ONE, TODAY, {Side.CONTRACT_GIVER})
    assert agreement.expire(TODAY) == []  # its last valid day still counts
    with pytest.raises(Conflict, match="ran out"):
        agreement.sign(Side.CONTRACT_ACCEPTOR, TODAY + timedelta(days=1))
    assert len(agreement.expire(TODAY + timedelta(days=1))) == 1
    assert agreement.status is AgreementStatus.EXPIRED
    assert agreement.expire(TODAY + timedelta(days=2)) == []


def facts(status="active", kinds=("clinical",), valid_from=TODAY, valid_until=TODAY + timedelta(days=365)):
    return AgreementFacts(uuid.uuid4(), status, kinds, valid_from, valid_until)


def test_a_clinical_run_needs_an_active_agreement_covering_clinical_runs_over_its_days():
    facility = uuid.uuid4()
    run = Period(datetime(2027, 3, 10, 8, tzinfo=UTC), datetime(2027, 3, 12, 8, tzinfo=UTC))

    def check(run_kind, *found):
        check_technical_agreement(run_kind, found, "ORG-1", facility, run, TODAY)

    check(RunKind.CLINICAL, facts())
    check(RunKind.DEVELOPMENT)  # no agreement needed
    check(RunKind.ENGINEERING)
    for found in [
        (),
        (facts(status="signed_by_one"),),
        (facts(kinds=("development",)),),
        (facts(valid_from=date(2027, 3, 11)),),
        (facts(valid_until=date(2027, 3, 11)),),
    ]:
        with pytest.raises(Conflict, match="needs an active technical agreement") as refused:
            check(RunKind.CLINICAL, *found)
        assert refused.value.extensions["rule"] == TECHNICAL_AGREEMENT_RULE
        assert "POST /v1/agreements" in refused.value.detail
    with pytest.raises(Conflict, match="there is none"):
        check(RunKind.CLINICAL)
    check(RunKind.CLINICAL, facts(status="signed_by_one"), facts())  # one that covers is enough


# --- the use cases ------------------------------------------------------------------------------


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(DEVELOPER.actor)


@pytest.fixture
def site(uow: FakeUnitOfWork) -> Site:
    return certified_site(uow.store)


def terms(site: Site, **fields) -> AgreementIn:
    today = models.now().date()
    return AgreementIn.model_validate(
        {"facility_id": site.facility_id, "title": "Quality agreement CD19 CAR-T", "run_kinds": ["clinical"],
         "valid_from": today - timedelta(days=1), "valid_until": today + timedelta(days=700), **fields}
    )  # fmt: skip


def signing(side: Side) -> AgreementSignatureIn:
    return AgreementSignatureIn(side=side, meaning=f"Agreed as {side.value}", reason="Terms reviewed by QA")


async def test_drafted_by_one_side_signed_by_both_it_is_active_with_each_signature_on_the_same_terms(uow, site):
    row = await agreements.draft(uow, DEVELOPER, terms(site))
    assert (row.status, row.org_id, row.created_by) == ("draft", "ORG-1", DEVELOPER.actor)
    acceptor = facility_user(site)
    await agreements.sign(uow.next(acceptor.actor), acceptor, row.id, signing(Side.CONTRACT_ACCEPTOR))
    assert row.status == "signed_by_one"
    await agreements.sign(uow.next(), DEVELOPER, row.id, signing(Side.CONTRACT_GIVER))
    assert (row.status, row.version) == ("active", 3)
    signed = {s["side"]: s for s in row.signatures}
    assert (signed["contract_acceptor"]["signer"], signed["contract_giver"]["signer"]) == (
        "facility:qa-1",
        "developer:dev-1",
    )
    assert signed["contract_giver"]["state_sha256"] == state_sha256(row.terms | {
        "valid_from": row.valid_from.isoformat(), "valid_until": row.valid_until.isoformat()})  # fmt: skip
    assert signed["contract_giver"]["state_sha256"] == signed["contract_acceptor"]["state_sha256"]


async def test_a_facility_drafts_naming_the_organisation_and_only_for_its_own_facility(uow, site):
    acceptor = facility_user(site)
    with pytest.raises(Unprocessable, match="org_id"):
        await agreements.draft(uow, acceptor, terms(site))
    row = await agreements.draft(uow, acceptor, terms(site, org_id="ORG-1"))
    assert (row.org_id, row.facility_id) == ("ORG-1", site.facility_id)
    other = Principal("qa-2", Role.FACILITY, facility_ids=frozenset({str(uuid.uuid4())}))
    with pytest.raises(Forbidden):
        await agreements.draft(uow, other, terms(site, org_id="ORG-1"))
    with pytest.raises(Forbidden):
        await agreements.draft(uow, DEVELOPER, terms(site, org_id="ORG-2"))
    with pytest.raises(Unprocessable, match="not known"):
        await agreements.draft(uow, DEVELOPER, terms(site, facility_id=str(uuid.uuid4())))
    assert len(uow.store.agreements) == 1


async def test_the_wrong_side_someone_else_and_a_second_signature_are_refused_and_change_nothing(uow, site):
    row = await agreements.draft(uow, DEVELOPER, terms(site))
    with pytest.raises(Forbidden, match="contract acceptor's signature belongs to a user of facility"):
        await agreements.sign(uow.next(), DEVELOPER, row.id, signing(Side.CONTRACT_ACCEPTOR))
    with pytest.raises(NotFound):
        await agreements.sign(uow.next(), STRANGER, row.id, signing(Side.CONTRACT_GIVER))
    admin = Principal("op", Role.ADMIN)
    with pytest.raises(Forbidden):
        await agreements.sign(uow.next(), admin, row.id, signing(Side.CONTRACT_GIVER))
    await agreements.sign(uow.next(), DEVELOPER, row.id, signing(Side.CONTRACT_GIVER))
    again = uow.next()
    with pytest.raises(Conflict, match="already"):
        await agreements.sign(again, DEVELOPER, row.id, signing(Side.CONTRACT_GIVER))
    assert (row.status, row.version, len(row.signatures), again.events) == ("signed_by_one", 2, 1, [])


async def test_either_side_terminates_once_and_the_job_expires_what_ran_out(uow, site):
    row = await agreements.draft(uow, DEVELOPER, terms(site))
    acceptor = facility_user(site)
    await agreements.terminate(uow.next(), acceptor, row.id, "Suite closed for refurbishment")
    assert (row.status, row.terminated_reason) == ("terminated", "Suite closed for refurbishment")
    with pytest.raises(Conflict, match="is terminated"):
        await agreements.terminate(uow.next(), DEVELOPER, row.id, "again")
    old = await agreements.draft(uow, DEVELOPER, terms(site))
    old.valid_until = models.now().date() - timedelta(days=1)
    job = uow.next("service:scheduling-agreement-expiry")
    assert await agreements.expire_run_out(job) == [old.id]
    assert old.status == "expired" and job.types() == ["agreement.expired"]
    assert "has passed" in job.events[0].reason
    assert await agreements.expire_run_out(uow.next()) == []


async def test_confirming_a_clinical_booking_needs_an_active_agreement_a_development_run_does_not(uow, site):
    approved = approval(uow.store, "ORG-1", site.facility_id)
    body = {"product": "CAR-T CD19", "run_kind": "clinical", "approval_id": approved}
    held = await bookings.hold(uow, "ORG-1", BookingIn.model_validate(body | {"slot_ids": [site.slots[0].id]}),
                               hold_ttl_seconds=900)  # fmt: skip
    clinical = uuid.UUID(held.answer["booking_id"])
    refused = uow.next()
    with pytest.raises(Conflict, match="technical agreement"):
        await bookings.confirm(refused, DEVELOPER, clinical)
    assert refused.events == [] and uow.store.bookings[clinical].materials_requested_at is None

    development = await bookings.hold(
        uow.next(), "ORG-1", BookingIn.model_validate({"product": "CAR-T", "run_kind": "development",
                                                       "slot_ids": [site.slots[1].id]}), hold_ttl_seconds=900,
    )  # fmt: skip
    await bookings.confirm(uow.next(), DEVELOPER, uuid.UUID(development.answer["booking_id"]))

    row = await agreements.draft(uow.next(), DEVELOPER, terms(site))
    await agreements.sign(uow.next(), DEVELOPER, row.id, signing(Side.CONTRACT_GIVER))
    acceptor = facility_user(site)
    await agreements.sign(uow.next(acceptor.actor), acceptor, row.id, signing(Side.CONTRACT_ACCEPTOR))
    confirming = uow.next()
    await bookings.confirm(confirming, DEVELOPER, clinical)
    assert confirming.types()[0] == "booking.confirmed"

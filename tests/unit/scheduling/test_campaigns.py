"""The campaign use cases on an in-memory unit of work: what accepting a quote opens, what the
saga's answers, its deadline and the hold's expiry change and announce. The slot races and the
real materials answering are for tests/integration/scheduling/test_campaigns.py."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.scheduling import campaigns, inbound, models, quotes, requests
from services.scheduling.schemas import QuoteIn, RequestIn
from shared.auth import Principal, Role
from shared.problems import Conflict
from tests.unit.scheduling.fakes import FakeUnitOfWork, certified_site, facility_user

DEVELOPER = Principal("dev-1", Role.DEVELOPER, org_id="ORG-1")
NEED = {"material_id": str(uuid.uuid4()), "quantity": "10", "unit": "mL"}


async def opened(uow: FakeUnitOfWork) -> tuple[models.Campaign, list[models.Slot]]:
    """A request of three batches needing 10 mL each, quoted by one facility and accepted."""
    site = certified_site(uow.store, slots=3)
    request = await requests.send(uow, DEVELOPER, RequestIn(
        facility_ids=[site.facility_id], product="CAR-T CD19", atmp_type="gene_therapy",
        process="viral_vector_production", batches=3, batch_days=1, earliest_start=date.today(),
        latest_end=date.today() + timedelta(days=60), run_kind="development", material_needs=[NEED],
    ))  # fmt: skip
    terms = QuoteIn(slot_ids=site.slot_ids, currency="EUR", price_per_batch="100", extras=[],
                    valid_until=datetime.now(UTC) + timedelta(days=7))  # fmt: skip
    quote = await quotes.send(uow.next("facility:qa-1"), facility_user(site), request.id, terms)
    accepting = uow.next()
    await quotes.accept(accepting, DEVELOPER, request.id, quote.id, hold_ttl_seconds=900)
    [campaign] = uow.store.campaigns.values()
    return campaign, site.slots


async def test_accepting_a_quote_opens_a_campaign_whose_batches_hold_its_slots():
    uow = FakeUnitOfWork(actor="developer:dev-1")
    campaign, slots = await opened(uow)
    batches = await uow.campaigns.batches(campaign.id)
    assert campaign.status == "held" and campaign.hold_expires_at is not None
    assert sorted(s for b in batches for s in b.slot_ids) == sorted(s.id for s in slots)
    assert {(s.status, s.quote_id, s.booking_id in {b.id for b in batches}) for s in slots} == {("held", None, True)}
    assert {b.hold_expires_at for b in batches} == {None}  # the campaign's hold, not each batch's
    assert {str(b.material_needs[0]["material_id"]) for b in batches} == {NEED["material_id"]}


async def test_confirming_asks_once_for_every_batch_and_the_deadline_asks_again_then_escalates():
    uow = FakeUnitOfWork(actor="developer:dev-1")
    campaign, _ = await opened(uow)
    confirming = uow.next()
    await campaigns.confirm(confirming, DEVELOPER, campaign.id)
    [asked] = confirming.events
    assert (asked.type, len(asked.reserve), asked.attempt) == ("gmphub.scheduling.campaign.confirmed.v1", 3, 1)
    job = uow.next("service:scheduling-campaign-saga")
    assert await campaigns.ask_materials_again(job, retry_seconds=30, max_attempts=2) == []  # not due yet
    campaign.materials_asked_at = models.now() - timedelta(seconds=31)
    assert await campaigns.ask_materials_again(job, retry_seconds=30, max_attempts=2) == [campaign.id]
    campaign.materials_asked_at = models.now() - timedelta(seconds=31)
    await campaigns.ask_materials_again(job, retry_seconds=30, max_attempts=2)
    assert job.types() == ["campaign.confirmed", "campaign.escalated", "campaign.confirmed"]
    assert [e.attempt for e in job.events if e.type.endswith("confirmed.v1")] == [2, 3]
    # confirmed (2), escalated (3): asking again is the same request, no new version
    assert campaign.materials_overdue_since is not None and campaign.version == 3


async def test_a_campaign_is_confirmed_only_while_its_facility_is_certified():
    uow = FakeUnitOfWork(actor="developer:dev-1")
    campaign, _ = await opened(uow)
    [certificate] = [v for v in uow.store.views.values() if isinstance(v, models.CertificateView)]
    certificate.status = "revoked"
    refused = uow.next()
    with pytest.raises(Conflict, match="no valid GMP certificate now; the campaign cannot be confirmed"):
        await campaigns.confirm(refused, DEVELOPER, campaign.id)
    assert refused.events == [] and (campaign.status, campaign.materials_requested_at) == ("held", None)


async def test_a_redelivered_answer_changes_nothing():
    uow = FakeUnitOfWork(actor="developer:dev-1")
    campaign, slots = await opened(uow)
    await campaigns.confirm(uow.next(), DEVELOPER, campaign.id)
    answer = inbound.CampaignReservationConfirmed(campaign_id=campaign.id)
    first, again = uow.next("service:scheduling"), uow.next("service:scheduling")
    await campaigns.on_reservation_confirmed(first, answer)
    await campaigns.on_reservation_confirmed(again, answer)
    assert first.types() == ["booking.materials_reserved"] * 3 + ["campaign.materials_reserved"]
    assert again.events == [] and campaign.status == "confirmed"
    assert {s.status for s in slots} == {"booked"}
    short = inbound.CampaignReservationFailed(campaign_id=campaign.id, batches=[])
    late = uow.next("service:scheduling")
    await campaigns.on_reservation_failed(late, short, hold_ttl_seconds=900)
    assert late.events == [] and campaign.status == "confirmed"


async def test_the_job_expires_a_campaign_whose_hold_ran_out_and_opens_its_slots():
    uow = FakeUnitOfWork(actor="developer:dev-1")
    campaign, slots = await opened(uow)
    job = uow.next("service:scheduling-campaign-hold-expiry")
    assert await campaigns.expire_overdue_holds(job, hold_ttl_seconds=900) == []
    campaign.hold_expires_at = models.now() - timedelta(seconds=1)
    assert await campaigns.expire_overdue_holds(job, hold_ttl_seconds=900) == [campaign.id]
    assert job.types() == ["booking.expired"] * 3 + ["campaign.expired"]
    assert campaign.status == "expired" and {s.status for s in slots} == {"open"}
    assert await campaigns.expire_overdue_holds(job, hold_ttl_seconds=900) == []


async def test_a_campaign_hold_expiring_soon_is_told_once_per_expiry():
    uow = FakeUnitOfWork(actor="developer:dev-1")
    campaign, _ = await opened(uow)  # held for 900 s
    job = uow.next("service:scheduling-hold-reminder")
    assert await campaigns.remind_expiring_holds(job, reminder_seconds=300) == []  # not yet
    assert await campaigns.remind_expiring_holds(job, reminder_seconds=1000) == [campaign.id]
    assert await campaigns.remind_expiring_holds(job, reminder_seconds=1000) == []  # told once
    [told] = job.events
    assert (told.type, told.hold_expires_at) == (
        "gmphub.scheduling.campaign.hold_expiring.v1",
        campaign.hold_expires_at,
    )
    assert (told.campaign.org_id, told.campaign.status, len(told.campaign.batches)) == ("ORG-1", "held", 3)
    assert campaign.version == 1  # the reminder changes nothing of the campaign
    campaign.hold_expires_at = models.now() + timedelta(seconds=60)  # a fresh hold (after a shortfall)
    assert await campaigns.remind_expiring_holds(job, reminder_seconds=300) == [campaign.id]
    campaign.hold_expires_at = models.now() - timedelta(seconds=1)
    assert await campaigns.remind_expiring_holds(job, reminder_seconds=300) == []  # expired: nothing to tell

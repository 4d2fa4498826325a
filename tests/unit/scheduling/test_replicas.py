"""Scheduling's replicas on an in-memory unit of work: each followed event kept when it is newer
than what is held, and the future open bookings it bears on flagged at risk or cleared."""

import uuid
from datetime import date, timedelta

import pytest

from services.scheduling import bookings, events, inbound, models, replicas
from services.scheduling.schemas import BookingIn
from tests.unit.scheduling.fakes import FakeUnitOfWork, Site, approval, certified_site

CONSUMER = "service:scheduling"
MATERIAL, SHORTAGE = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(CONSUMER)


@pytest.fixture
def site(uow: FakeUnitOfWork) -> Site:
    return certified_site(uow.store, slots=2)


def view(uow: FakeUnitOfWork, kind: type, key: uuid.UUID):
    return uow.store.views.get((kind, key))


async def booking_on(uow: FakeUnitOfWork, site: Site, slot: int, **fields) -> models.Booking:
    request = BookingIn.model_validate(
        {"slot_ids": [site.slots[slot].id], "product": "CAR-T CD19", "run_kind": "development", **fields}
    )
    outcome = await bookings.hold(uow.next("developer:dev-1"), "ORG-1", request, hold_ttl_seconds=900)
    return uow.store.bookings[uuid.UUID(outcome.answer["booking_id"])]


def certificate_event(site: Site, cls: type[inbound.CertificateChanged], status: str, version: int, reason=None):
    c = site.certificate
    state = inbound.Certificate(
        certificate_id=c.certificate_id, facility_id=c.facility_id, number=c.number, authority=c.authority,
        expires_on=c.expires_on, status=status, reason=reason,
    )  # fmt: skip
    return cls(version=version, certificate=state)


async def test_a_facility_is_kept_at_its_newest_version(uow):
    facility_id = uuid.uuid4()

    def changed(cls, version: int, name: str, active: bool = True):
        state = inbound.Facility(facility_id=facility_id, version=version, legal_name=name, country="DE", active=active)
        return cls(facility=state)

    await replicas.record_facility(uow, changed(inbound.FacilityRegistered, 1, "Charité GMP"))
    await replicas.record_facility(uow, changed(inbound.FacilityDeactivated, 3, "Charité GMP unit", active=False))
    await replicas.record_facility(uow, changed(inbound.FacilityUpdated, 2, "Stale name"))  # late: ignored
    kept = view(uow, models.FacilityView, facility_id)
    assert (kept.version, kept.legal_name, kept.active) == (3, "Charité GMP unit", False)
    assert uow.events == []


async def test_a_suite_is_kept_and_a_retiring_event_retires_it(uow, site):
    state = inbound.Suite(
        suite_id=site.suite_id, facility_id=site.facility_id, name="Suite B2", cleanroom_grade="A",
        atmp_types=["gene_therapy"], processes=["fill_finish"],
    )  # fmt: skip
    await replicas.record_suite(uow, inbound.SuiteUpdated(version=5, suite=state))
    suite = view(uow, models.SuiteView, site.suite_id)
    assert (suite.version, suite.name, suite.cleanroom_grade, suite.processes) == (5, "Suite B2", "A", ["fill_finish"])
    await replicas.record_suite(uow, inbound.SuiteRetired(version=5, suite=state))  # not newer
    assert not view(uow, models.SuiteView, site.suite_id).retired
    await replicas.record_suite(uow, inbound.SuiteRetired(version=6, suite=state))
    suite = view(uow, models.SuiteView, site.suite_id)
    assert suite.retired and suite.version == 6


async def test_a_suspended_certificate_flags_the_facility_s_future_bookings_and_reinstating_clears_them(uow, site):
    upcoming = await booking_on(uow, site, 0)
    cancelled = await booking_on(uow, site, 1)
    cancelled.status = "cancelled"
    suspending = uow.next()
    await replicas.record_certificate(
        suspending, certificate_event(site, inbound.CertificateSuspended, "suspended", 4, reason="Inspection findings")
    )
    assert view(uow, models.CertificateView, site.certificate.certificate_id).status == "suspended"
    reason = f"GMP certificate {site.certificate.number} is suspended: Inspection findings"
    assert upcoming.at_risk_reasons == [reason] and cancelled.at_risk_reasons == []
    [flagged] = suspending.events
    assert isinstance(flagged, events.BookingFlaggedAtRisk) and flagged.booking_id == upcoming.id
    assert (flagged.booking.at_risk_reasons, flagged.booking.version, upcoming.updated_by) == ([reason], 2, CONSUMER)

    stale = uow.next()
    await replicas.record_certificate(stale, certificate_event(site, inbound.CertificateReinstated, "valid", 4))
    assert stale.events == [] and upcoming.at_risk_reasons == [reason]
    reinstating = uow.next()
    await replicas.record_certificate(reinstating, certificate_event(site, inbound.CertificateReinstated, "valid", 5))
    assert upcoming.at_risk_reasons == [] and reinstating.types() == ["booking.at_risk_changed"]
    unchanged = uow.next()
    await replicas.record_certificate(unchanged, certificate_event(site, inbound.CertificateReinstated, "valid", 6))
    assert unchanged.events == []  # the reasons did not change: nothing to announce


async def test_a_booking_whose_run_has_ended_is_not_flagged(uow, site):
    past = await booking_on(uow, site, 0)
    past.ends_at = models.now() - timedelta(hours=1)
    expired = certificate_event(site, inbound.CertificateExpired, "expired", 4)
    await replicas.record_certificate(uow, expired)
    assert past.at_risk_reasons == [] and uow.events == []


def shortage_event(cls, version: int, status: str, regions: list[str]):
    state = inbound.Shortage(
        shortage_id=SHORTAGE, material_id=MATERIAL, material_name="TexMACS", version=version, severity="critical",
        status=status, regions=regions, reason="Supplier recall",
    )  # fmt: skip
    return cls(shortage=state)


async def test_a_shortage_where_the_facility_is_flags_the_bookings_needing_the_material(uow, site):
    need = {"material_id": str(MATERIAL), "quantity": "5", "unit": "mL"}
    needing = await booking_on(uow, site, 0, material_needs=[need])
    other = await booking_on(uow, site, 1)
    elsewhere = uow.next()
    await replicas.record_shortage(elsewhere, shortage_event(inbound.ShortageDeclared, 1, "active", ["US"]))
    assert needing.at_risk_reasons == [] and elsewhere.events == []
    declaring = uow.next()
    await replicas.record_shortage(declaring, shortage_event(inbound.ShortageUpdated, 2, "active", ["EU"]))
    assert needing.at_risk_reasons == ["TexMACS is short (critical): Supplier recall"]
    assert other.at_risk_reasons == [] and declaring.types() == ["booking.at_risk_changed"]
    resolving = uow.next()
    await replicas.record_shortage(resolving, shortage_event(inbound.ShortageResolved, 3, "resolved", ["EU"]))
    assert needing.at_risk_reasons == [] and resolving.types() == ["booking.at_risk_changed"]
    assert view(uow, models.ShortageView, SHORTAGE).version == 3


async def test_an_approval_no_longer_approved_flags_the_clinical_runs_relying_on_it(uow, site):
    approval_id = approval(uow.store, "ORG-1", site.facility_id)
    clinical = await booking_on(uow, site, 0, run_kind="clinical", approval_id=str(approval_id))

    def changed(cls, version: int, status: str):
        state = inbound.Approval(
            approval_id=approval_id, version=version, title="Phase I CAR-T CD19", holder_org_id="ORG-1",
            facility_ids=[site.facility_id], status=status,
        )  # fmt: skip
        return cls(approval=state)

    suspending = uow.next()
    await replicas.record_approval(suspending, changed(inbound.ApprovalSuspended, 2, "suspended"))
    assert clinical.at_risk_reasons == [f"Approval {approval_id} is suspended."]
    assert suspending.types() == ["booking.at_risk_changed"]
    await replicas.record_approval(uow.next(), changed(inbound.ApprovalReinstated, 3, "approved"))
    assert clinical.at_risk_reasons == []
    assert view(uow, models.ApprovalView, approval_id).status == "approved"


async def test_a_first_event_about_a_certificate_creates_its_replica(uow):
    facility_id, certificate_id = uuid.uuid4(), uuid.uuid4()
    state = inbound.Certificate(
        certificate_id=certificate_id, facility_id=facility_id, number="FR-GMP-7", authority="FR-ANSM",
        expires_on=date(2030, 1, 1), status="valid",
    )  # fmt: skip
    await replicas.record_certificate(uow, inbound.CertificateIssued(version=1, certificate=state))
    kept = view(uow, models.CertificateView, certificate_id)
    assert (kept.facility_id, kept.number, kept.status, kept.version) == (facility_id, "FR-GMP-7", "valid", 1)


async def test_a_supplier_change_flags_the_bookings_it_names_until_their_facility_accepts(uow, site):
    named = await booking_on(uow, site, 0)
    other = await booking_on(uow, site, 1)
    change = inbound.SupplierChange(
        supplier_change_id=uuid.uuid4(), change_type="site", description="Filling moves to Porto",
        effective_on=date(2027, 3, 1), risk_class="critical",
    )  # fmt: skip
    recorded = inbound.SupplierChangeRecorded(
        supplier_change=change,
        bookings=[inbound.SupplierChangeBooking(booking_id=named.id, facility_id=site.facility_id)],
    )
    recording = uow.next()
    await replicas.record_supplier_change(recording, recorded)
    assert named.at_risk_reasons == [
        "A supplier change (site, critical, effective 2027-03-01) touches lots reserved for it: Filling moves to Porto;"
        " the facility has not assessed it yet."
    ]
    assert other.at_risk_reasons == [] and recording.types() == ["booking.at_risk_changed"]
    again = uow.next()
    await replicas.record_supplier_change(again, recorded)  # the same event again changes nothing
    assert again.events == []
    elsewhere = uow.next()
    answer = {"supplier_change_id": change.supplier_change_id, "outcome": "accepted"}
    await replicas.record_supplier_change_answer(
        elsewhere, inbound.SupplierChangeAnswered(facility_id=uuid.uuid4(), **answer)
    )
    assert named.at_risk_reasons != [] and elsewhere.events == []  # another facility's answer
    accepting = uow.next()
    await replicas.record_supplier_change_answer(
        accepting, inbound.SupplierChangeAnswered(facility_id=site.facility_id, **answer)
    )
    assert named.at_risk_reasons == [] and accepting.types() == ["booking.at_risk_changed"]

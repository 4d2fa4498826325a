"""Certificate use cases on an in-memory unit of work: issuing, the issuing authority's status
changes, and expiry by date, each with the event it announces."""

from datetime import date, timedelta

import pytest

from services.registry import certificates, events, facilities
from services.registry.domain import CertificateTerms
from shared.auth import Principal, Role
from shared.problems import Conflict, Forbidden
from shared.signatures import state_sha256
from tests.unit.registry.fakes import FakeUnitOfWork
from tests.unit.registry.test_facilities import PROFILE

ISSUED, TODAY = date(2026, 1, 10), date(2026, 6, 1)
PEI = Principal(sub="inspector-1", role=Role.REGULATOR, authority="DE-PEI", name="Dr. Erika Muster")
SIGNED = certificates.SignatureRequest()


def because(reason: str) -> certificates.SignatureRequest:
    return certificates.SignatureRequest(reason=reason)


ANSM = Principal(sub="inspector-2", role=Role.REGULATOR, authority="FR-ANSM")


def terms(number: str = "DE-PEI-GMP-1", expires_on: date = date(2029, 1, 10)) -> CertificateTerms:
    return CertificateTerms(
        number=number, authority="DE-PEI", issued_on=ISSUED, expires_on=expires_on,
        atmp_types=("gene_therapy",), operations=("aseptic_manufacture",), today=ISSUED,
    )  # fmt: skip


async def facility_with_certificate(uow: FakeUnitOfWork, **kw):
    facility = await facilities.register_facility(uow, PROFILE)
    uow.actor = PEI.actor
    certificate = await certificates.issue_certificate(uow, PEI, facility.id, terms(**kw), SIGNED)
    await uow.commit()
    return facility, certificate


async def test_an_issued_certificate_is_valid_and_announced_with_the_facility_version():
    uow = FakeUnitOfWork()

    facility, certificate = await facility_with_certificate(uow)

    assert certificate.status == "valid" and certificate.created_by == PEI.actor
    event = uow.published[-1]
    assert isinstance(event, events.CertificateIssued)
    assert event.version == facility.version == 2
    assert event.certificate.certificate_id == certificate.id and event.certificate.atmp_types == ["gene_therapy"]


async def test_an_authority_numbers_its_certificates_once():
    uow = FakeUnitOfWork()
    facility, _ = await facility_with_certificate(uow)

    with pytest.raises(Conflict, match="already issued a certificate numbered"):
        await certificates.issue_certificate(uow, PEI, facility.id, terms(), SIGNED)


async def test_the_issuing_authority_suspends_and_reinstates_and_another_may_not():
    uow = FakeUnitOfWork()
    _, certificate = await facility_with_certificate(uow)

    with pytest.raises(Forbidden):
        await certificates.change_status(uow, ANSM, certificate.id, "suspend", because("Not ours"), on=TODAY)
    await certificates.change_status(uow, PEI, certificate.id, "suspend", because("Sterility failures"), on=TODAY)
    assert (certificate.status, certificate.reason) == ("suspended", "Sterility failures")
    await certificates.change_status(uow, PEI, certificate.id, "reinstate", SIGNED, on=TODAY)
    await uow.commit()

    assert certificate.status == "valid"
    assert [type(e) for e in uow.published[-2:]] == [events.CertificateSuspended, events.CertificateReinstated]
    assert uow.published[-2].certificate.status == "suspended" and uow.published[-1].version == 4


async def test_a_revoked_certificate_stays_revoked():
    uow = FakeUnitOfWork()
    _, certificate = await facility_with_certificate(uow)

    await certificates.change_status(uow, PEI, certificate.id, "revoke", because("Falsified records"), on=TODAY)
    with pytest.raises(Conflict, match="revoked certificate cannot be valid"):
        await certificates.change_status(uow, PEI, certificate.id, "reinstate", SIGNED, on=TODAY)
    assert certificate.status == "revoked"
    assert isinstance(uow.pending[-1], events.CertificateRevoked)


async def test_a_certificate_past_its_date_expires_once_and_one_on_its_last_day_stays_in_force():
    uow = FakeUnitOfWork()
    facility, lapsed = await facility_with_certificate(uow, number="LAPSED", expires_on=TODAY - timedelta(days=1))
    last_day = await certificates.issue_certificate(uow, PEI, facility.id, terms("LAST-DAY", expires_on=TODAY), SIGNED)
    uow.actor = "service:registry-expiry"

    due = await certificates.due_for_expiry(uow, TODAY)
    assert due == [(lapsed.id, facility.id)]
    assert await certificates.expire_certificate(uow, lapsed.id, facility.id, TODAY)
    assert not await certificates.expire_certificate(uow, lapsed.id, facility.id, TODAY)  # a second replica
    await uow.commit()

    assert (lapsed.status, lapsed.status_changed_by) == ("expired", "service:registry-expiry")
    assert last_day.status == "valid"
    expired = [e for e in uow.published if isinstance(e, events.CertificateExpired)]
    assert [e.certificate.certificate_id for e in expired] == [lapsed.id]
    assert await certificates.due_for_expiry(uow, TODAY) == []


async def test_each_action_is_a_signature_record_bound_to_the_state_it_signed_and_carried_by_its_event():
    uow = FakeUnitOfWork()
    _, certificate = await facility_with_certificate(uow)
    stated = certificates.SignatureRequest(meaning="Suspended pending CAPA", reason="Sterility failures")

    await certificates.change_status(uow, PEI, certificate.id, "suspend", stated, on=TODAY)
    await uow.commit()

    issued, suspended = uow.signatures.rows
    assert (issued.action, issued.meaning, issued.reason) == ("issued", "issued", None)
    assert (suspended.action, suspended.meaning, suspended.reason) == ("suspended", stated.meaning, stated.reason)
    assert (suspended.signer, suspended.signer_name, suspended.authority) == (PEI.actor, "Dr. Erika Muster", "DE-PEI")
    assert suspended.state_sha256 == state_sha256(certificates.certificate_state(certificate)) != issued.state_sha256
    event = uow.published[-1]
    assert event.signature.state_sha256 == state_sha256(event.certificate) == suspended.state_sha256
    assert event.signature.signed_at == suspended.signed_at and suspended.facility_version == event.version

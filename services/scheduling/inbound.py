"""Scheduling's own models of the registry, materials and approvals events it follows: each with
the producer's type, and only the fields scheduling reads (its read models and the materials saga).
The producers publish more; what is not here is ignored. tests/unit/test_contracts.py checks each
against its producer's AsyncAPI document, so a change there that would break scheduling fails the
build."""

from datetime import date
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel

from shared.events import InboundEvent

# --- registry: facilities, suites, certificates (keyed by facility; `version` is the facility's) ---


class Facility(BaseModel):
    facility_id: UUID
    version: int
    legal_name: str
    country: str
    oms_location_id: str | None = None  # EMA OMS location id (LOC-…): how the regulators' systems name the site
    active: bool = True


class FacilityChanged(InboundEvent):
    facility: Facility


class FacilityRegistered(FacilityChanged):
    type = "gmphub.registry.facility.registered.v1"


class FacilityUpdated(FacilityChanged):
    type = "gmphub.registry.facility.updated.v1"


class FacilityDeactivated(FacilityChanged):
    type = "gmphub.registry.facility.deactivated.v1"


class FacilityReactivated(FacilityChanged):
    type = "gmphub.registry.facility.reactivated.v1"


class Suite(BaseModel):
    suite_id: UUID
    facility_id: UUID
    name: str
    cleanroom_grade: str
    atmp_types: list[str]
    processes: list[str]
    retired: bool = False


class SuiteChanged(InboundEvent):
    version: int
    suite: Suite


class SuiteAdded(SuiteChanged):
    type = "gmphub.registry.suite.added.v1"


class SuiteUpdated(SuiteChanged):
    type = "gmphub.registry.suite.updated.v1"


class SuiteRetired(SuiteChanged):
    type = "gmphub.registry.suite.retired.v1"


class Certificate(BaseModel):
    certificate_id: UUID
    facility_id: UUID
    number: str
    authority: str
    expires_on: date
    status: str  # valid | suspended | revoked | expired
    reason: str | None = None


class CertificateChanged(InboundEvent):
    version: int
    certificate: Certificate


class CertificateIssued(CertificateChanged):
    type = "gmphub.registry.certificate.issued.v1"


class CertificateSuspended(CertificateChanged):
    type = "gmphub.registry.certificate.suspended.v1"


class CertificateReinstated(CertificateChanged):
    type = "gmphub.registry.certificate.reinstated.v1"


class CertificateRevoked(CertificateChanged):
    type = "gmphub.registry.certificate.revoked.v1"


class CertificateExpired(CertificateChanged):
    type = "gmphub.registry.certificate.expired.v1"


# --- materials: shortages, and the answers of the reservation saga (keyed by booking) ---


class Shortage(BaseModel):
    shortage_id: UUID
    material_id: UUID
    material_name: str | None = None
    version: int
    severity: str
    status: str
    regions: list[str]
    reason: str | None = None


class ShortageChanged(InboundEvent):
    shortage: Shortage


class ShortageDeclared(ShortageChanged):
    type = "gmphub.materials.shortage.declared.v1"


class ShortageUpdated(ShortageChanged):
    type = "gmphub.materials.shortage.updated.v1"


class ShortageResolved(ShortageChanged):
    type = "gmphub.materials.shortage.resolved.v1"


class SupplierChange(BaseModel):
    supplier_change_id: UUID
    change_type: str
    description: str
    effective_on: date
    risk_class: str


class SupplierChangeBooking(BaseModel):
    booking_id: UUID
    facility_id: UUID


class SupplierChangeRecorded(InboundEvent):
    """Only the bookings whose confirmed reservations hold lots the change touches."""

    type = "gmphub.materials.supplier_change.recorded.v1"
    supplier_change: SupplierChange
    bookings: list[SupplierChangeBooking]


class SupplierChangeAnswered(InboundEvent):
    type = "gmphub.materials.supplier_change.answered.v1"
    supplier_change_id: UUID
    facility_id: UUID
    outcome: str


class Shortfall(BaseModel):
    """Kept on the booking as it comes, so all of it."""

    material_id: UUID
    requested: Decimal
    available: Decimal
    unit: str


class ReservationConfirmed(InboundEvent):
    type = "gmphub.materials.reservation.confirmed.v1"
    booking_id: UUID


class ReservationFailed(InboundEvent):
    type = "gmphub.materials.reservation.failed.v1"
    booking_id: UUID
    shortfalls: list[Shortfall]


class BatchShortfalls(BaseModel):
    booking_id: UUID
    shortfalls: list[Shortfall]


class CampaignReservationConfirmed(InboundEvent):
    """Every batch of the campaign reserved, in one transaction."""

    type = "gmphub.materials.campaign_reservation.confirmed.v1"
    campaign_id: UUID


class CampaignReservationFailed(InboundEvent):
    """Some batch's needs could not be met: nothing reserved for any; shortfalls per batch."""

    type = "gmphub.materials.campaign_reservation.failed.v1"
    campaign_id: UUID
    batches: list[BatchShortfalls]


# --- approvals: every approval event carries the approval's whole state ---


class Approval(BaseModel):
    approval_id: UUID
    version: int
    title: str
    holder_org_id: str
    authority: str | None = None  # whose regulators may read the bookings relying on it
    facility_ids: list[UUID]
    status: str


class ApprovalChanged(InboundEvent):
    approval: Approval


class ApprovalDrafted(ApprovalChanged):
    type = "gmphub.approvals.approval.drafted.v1"


class ApprovalSubmitted(ApprovalChanged):
    type = "gmphub.approvals.approval.submitted.v1"


class ApprovalReviewStarted(ApprovalChanged):
    type = "gmphub.approvals.approval.review_started.v1"


class ApprovalApproved(ApprovalChanged):
    type = "gmphub.approvals.approval.approved.v1"


class ApprovalRejected(ApprovalChanged):
    type = "gmphub.approvals.approval.rejected.v1"


class ApprovalSuspended(ApprovalChanged):
    type = "gmphub.approvals.approval.suspended.v1"


class ApprovalReinstated(ApprovalChanged):
    type = "gmphub.approvals.approval.reinstated.v1"


class ApprovalWithdrawn(ApprovalChanged):
    type = "gmphub.approvals.approval.withdrawn.v1"


class ApprovalExpired(ApprovalChanged):
    type = "gmphub.approvals.approval.expired.v1"


class ApprovalReconfirmationRequired(ApprovalChanged):
    type = "gmphub.approvals.approval.reconfirmation_required.v1"

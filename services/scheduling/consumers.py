"""The events scheduling follows, mapped to their use cases."""

from functools import partial

from services.scheduling import bookings, campaigns, inbound, replicas
from services.scheduling.settings import SchedulingSettings
from shared.consumer import Handler
from shared.events import InboundEvent


def follows(settings: SchedulingSettings) -> dict[type[InboundEvent], Handler]:
    """The use cases, given the settings they need (the service's one place of wiring)."""
    return {
        inbound.FacilityRegistered: replicas.record_facility,
        inbound.FacilityUpdated: replicas.record_facility,
        inbound.FacilityDeactivated: replicas.record_facility,
        inbound.FacilityReactivated: replicas.record_facility,
        inbound.SuiteAdded: replicas.record_suite,
        inbound.SuiteUpdated: replicas.record_suite,
        inbound.SuiteRetired: replicas.record_suite,
        inbound.CertificateIssued: replicas.record_certificate,
        inbound.CertificateSuspended: replicas.record_certificate,
        inbound.CertificateReinstated: replicas.record_certificate,
        inbound.CertificateRevoked: replicas.record_certificate,
        inbound.CertificateExpired: replicas.record_certificate,
        inbound.ShortageDeclared: replicas.record_shortage,
        inbound.ShortageUpdated: replicas.record_shortage,
        inbound.ShortageResolved: replicas.record_shortage,
        inbound.SupplierChangeRecorded: replicas.record_supplier_change,
        inbound.SupplierChangeAnswered: replicas.record_supplier_change_answer,
        inbound.ReservationConfirmed: bookings.on_reservation_confirmed,
        inbound.ReservationFailed: partial(bookings.on_reservation_failed, hold_ttl_seconds=settings.hold_ttl_seconds),
        inbound.CampaignReservationConfirmed: campaigns.on_reservation_confirmed,
        inbound.CampaignReservationFailed: partial(
            campaigns.on_reservation_failed, hold_ttl_seconds=settings.hold_ttl_seconds
        ),
        # every approval event carries the approval's whole state
        **{
            cls: replicas.record_approval
            for cls in (
                inbound.ApprovalDrafted,
                inbound.ApprovalSubmitted,
                inbound.ApprovalReviewStarted,
                inbound.ApprovalApproved,
                inbound.ApprovalRejected,
                inbound.ApprovalSuspended,
                inbound.ApprovalReinstated,
                inbound.ApprovalWithdrawn,
                inbound.ApprovalExpired,
                inbound.ApprovalReconfirmationRequired,
            )
        },
    }

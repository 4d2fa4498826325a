"""The events scheduling follows, mapped to their handlers."""

from functools import partial

from services.scheduling import handlers, inbound, readmodels
from shared.consumer import Handler
from shared.events import InboundEvent
from shared.settings import Settings


def follows(settings: Settings) -> dict[type[InboundEvent], Handler]:
    """The handlers, given the settings they need (the service's one place of wiring)."""
    return {
        inbound.FacilityRegistered: readmodels.record_facility,
        inbound.FacilityUpdated: readmodels.record_facility,
        inbound.FacilityDeactivated: readmodels.record_facility,
        inbound.FacilityReactivated: readmodels.record_facility,
        inbound.SuiteAdded: readmodels.record_suite,
        inbound.SuiteUpdated: readmodels.record_suite,
        inbound.SuiteRetired: readmodels.record_suite,
        inbound.CertificateIssued: readmodels.record_certificate,
        inbound.CertificateSuspended: readmodels.record_certificate,
        inbound.CertificateReinstated: readmodels.record_certificate,
        inbound.CertificateRevoked: readmodels.record_certificate,
        inbound.CertificateExpired: readmodels.record_certificate,
        inbound.ShortageDeclared: readmodels.record_shortage,
        inbound.ShortageUpdated: readmodels.record_shortage,
        inbound.ShortageResolved: readmodels.record_shortage,
        inbound.ReservationConfirmed: handlers.on_reservation_confirmed,
        inbound.ReservationFailed: partial(handlers.on_reservation_failed, hold_ttl_seconds=settings.hold_ttl_seconds),
        # every approval event carries the approval's whole state
        **{
            cls: readmodels.record_approval
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

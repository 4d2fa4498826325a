"""The events scheduling follows, mapped to their handlers."""

from services.approvals import events as approvals
from services.materials import events as materials
from services.registry import events as registry
from services.scheduling import handlers, readmodels
from shared.consumer import Handler
from shared.events import Event

HANDLERS: dict[type[Event], Handler] = {
    registry.FacilityRegistered: readmodels.record_facility,
    registry.FacilityUpdated: readmodels.record_facility,
    registry.FacilityDeactivated: readmodels.record_facility,
    registry.FacilityReactivated: readmodels.record_facility,
    registry.SuiteAdded: readmodels.record_suite,
    registry.SuiteUpdated: readmodels.record_suite,
    registry.SuiteRetired: readmodels.record_suite,
    registry.CertificateIssued: readmodels.record_certificate,
    registry.CertificateSuspended: readmodels.record_certificate,
    registry.CertificateReinstated: readmodels.record_certificate,
    registry.CertificateRevoked: readmodels.record_certificate,
    registry.CertificateExpired: readmodels.record_certificate,
    materials.ShortageDeclared: readmodels.record_shortage,
    materials.ShortageUpdated: readmodels.record_shortage,
    materials.ShortageResolved: readmodels.record_shortage,
    materials.ReservationConfirmed: handlers.on_reservation_confirmed,
    materials.ReservationFailed: handlers.on_reservation_failed,
    # every approval event carries the approval's whole state
    **{
        cls: readmodels.record_approval
        for cls in (
            approvals.ApprovalDrafted,
            approvals.ApprovalSubmitted,
            approvals.ApprovalReviewStarted,
            approvals.ApprovalApproved,
            approvals.ApprovalRejected,
            approvals.ApprovalSuspended,
            approvals.ApprovalReinstated,
            approvals.ApprovalWithdrawn,
            approvals.ApprovalExpired,
            approvals.ApprovalReconfirmationRequired,
        )
    },
}

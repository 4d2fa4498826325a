"""Events the registry publishes on `gmphub.registry.v1`. The facility is the aggregate (suites and
certificates belong to it), so the Kafka key is the facility id and a facility's history stays in
order. Each event carries the full current state of what changed (event-carried state), with a
`version` that grows with every change, so a consumer can keep a read model without calling back
and ignore anything older than what it holds."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from shared.events import ChainAnchored, Event


class FacilityState(BaseModel):
    facility_id: UUID
    version: int
    legal_name: str
    kind: str
    country: str  # ISO 3166-1 alpha-2
    city: str
    address: str
    contact_email: str
    authorisation_number: str
    authorisation_authority: str
    eudragmdp_ref: str | None = None
    oms_organisation_id: str | None = Field(
        default=None, description="EMA SPOR/OMS organisation id, ORG- and 9 digits", examples=["ORG-100001699"]
    )
    oms_location_id: str | None = Field(
        default=None, description="EMA SPOR/OMS location id of the site, LOC- and 9 digits", examples=["LOC-100000151"]
    )
    active: bool = True


class SuiteState(BaseModel):
    suite_id: UUID
    facility_id: UUID
    name: str
    cleanroom_grade: str
    atmp_types: list[str]
    processes: list[str]
    qc_tests: list[str] = []
    qp_release: bool = False
    description: str | None = None
    retired: bool = False


class CertificateState(BaseModel):
    certificate_id: UUID
    facility_id: UUID
    number: str
    authority: str
    issued_on: date
    expires_on: date
    atmp_types: list[str]
    operations: list[str]
    status: str  # valid | suspended | revoked | expired
    reason: str | None = None
    eudragmdp_ref: str | None = Field(
        default=None, description="The EudraGMDP reference as the authority issued it (opaque text)"
    )

    @model_serializer(mode="wrap")
    def _without_unset_reference(self, handler: SerializerFunctionWrapHandler):
        """A certificate without a EudraGMDP reference serialises as it did before the field
        existed, so the hash of a state signed then (a signature's `state_sha256`) still matches.
        No return annotation: pydantic then documents the model's own fields (with one, a dict)."""
        state: dict[str, Any] = handler(self)
        if state.get("eudragmdp_ref") is None:
            state.pop("eudragmdp_ref", None)
        return state


class Signature(BaseModel):
    """A regulator's electronic signature on a certificate action (EU GMP Annex 11, 21 CFR Part 11):
    who (`signer` as the audit trail names the caller, `signer_name` as the person's token names
    them), when, what it means, why, and the SHA-256 of the canonical JSON of the `certificate`
    state it signed (the state this event carries)."""

    signer: str
    signer_name: str
    authority: str
    meaning: str
    reason: str | None = None
    signed_at: datetime
    state_sha256: str


class _FacilityEvent(Event):
    aggregate_field = "facility_id"
    facility_id: UUID
    version: int  # the facility aggregate's version after this change


class FacilityRegistered(_FacilityEvent):
    """A facility was onboarded by the hub operator."""

    type = "gmphub.registry.facility.registered.v1"
    facility: FacilityState


class FacilityUpdated(_FacilityEvent):
    """A facility's profile changed."""

    type = "gmphub.registry.facility.updated.v1"
    facility: FacilityState


class FacilityDeactivated(_FacilityEvent):
    """A facility no longer takes part in the hub; its history is kept."""

    type = "gmphub.registry.facility.deactivated.v1"
    facility: FacilityState
    reason: str


class FacilityReactivated(_FacilityEvent):
    """A deactivated facility takes part in the hub again (the reason says why)."""

    type = "gmphub.registry.facility.reactivated.v1"
    facility: FacilityState
    reason: str


class SuiteAdded(_FacilityEvent):
    """A suite (room or line) with its capabilities was added to a facility."""

    type = "gmphub.registry.suite.added.v1"
    suite: SuiteState


class SuiteUpdated(_FacilityEvent):
    """A suite's capabilities changed."""

    type = "gmphub.registry.suite.updated.v1"
    suite: SuiteState


class SuiteRetired(_FacilityEvent):
    """A suite was retired; it takes no new capacity."""

    type = "gmphub.registry.suite.retired.v1"
    suite: SuiteState
    reason: str


class CertificateIssued(_FacilityEvent):
    """A regulator issued a GMP certificate to the facility."""

    type = "gmphub.registry.certificate.issued.v1"
    certificate: CertificateState
    signature: Signature | None = None  # none only on events from before certificate actions were signed


class CertificateSuspended(_FacilityEvent):
    """The issuing authority suspended the certificate, with a reason."""

    type = "gmphub.registry.certificate.suspended.v1"
    certificate: CertificateState
    signature: Signature | None = None  # none only on events from before certificate actions were signed


class CertificateReinstated(_FacilityEvent):
    """A suspended certificate is valid again."""

    type = "gmphub.registry.certificate.reinstated.v1"
    certificate: CertificateState
    signature: Signature | None = None  # none only on events from before certificate actions were signed


class CertificateRevoked(_FacilityEvent):
    """The issuing authority revoked the certificate; final."""

    type = "gmphub.registry.certificate.revoked.v1"
    certificate: CertificateState
    signature: Signature | None = None  # none only on events from before certificate actions were signed


class CertificateExpired(_FacilityEvent):
    """The certificate passed its expiry date; emitted once."""

    type = "gmphub.registry.certificate.expired.v1"
    certificate: CertificateState


class NonComplianceRecorded(_FacilityEvent):
    """A regulator recorded a GMP non-compliance statement for the facility."""

    type = "gmphub.registry.noncompliance.recorded.v1"
    statement_id: UUID
    authority: str
    summary: str
    recorded_at: datetime
    eudragmdp_ref: str | None = None  # the EudraGMDP reference as the authority issued it


class AuditAnchored(ChainAnchored):
    """The head of the registry service's event-history hash chain, hourly and on demand (`gmp-hub audit anchor`)."""

    type = "gmphub.registry.audit.anchored.v1"

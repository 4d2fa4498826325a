"""Request and response bodies of the registry API. Vocabulary terms arrive as plain strings and
are checked by the domain, so a bad term gets one clear problem naming it and the allowed ones."""

from datetime import date, datetime
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool

from services.registry.events import CertificateState, FacilityState, Signature, SuiteState
from shared.fields import IsoDate
from shared.problems import Unprocessable

Term = Annotated[str, Field(min_length=1, max_length=60)]
Terms = Annotated[list[Term], Field(max_length=50)]
Reason = Annotated[str, Field(min_length=3, max_length=2000, examples=["Critical deviation in aseptic process"])]
Meaning = Annotated[
    str,
    Field(
        min_length=3, max_length=200, examples=["Suspended by the competent authority pending CAPA"],
        description="What the signature means; the action's word (issued, suspended, reinstated, revoked) if left out.",
    ),
]  # fmt: skip
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", examples=["qa@gmp.example.org"])]


# EMA SPOR/OMS ids as sent: checked and normalised by the domain (`oms_id`).
OmsOrganisationId = Annotated[
    str | None,
    Field(max_length=20, examples=["ORG-100001699"],
          description="EMA SPOR/OMS organisation id: ORG- and 9 digits, or the digits alone (stored prefixed)"),
]  # fmt: skip
OmsLocationId = Annotated[
    str | None,
    Field(max_length=20, examples=["LOC-100000151"],
          description="EMA SPOR/OMS location id of the site: LOC- and 9 digits, or the digits alone; one active facility each"),
]  # fmt: skip


class FacilityIn(BaseModel):
    legal_name: str = Field(min_length=2, max_length=300, examples=["Charité GMP Unit for Cell Therapy"])
    kind: Term = Field(examples=["hospital"])
    country: str = Field(pattern=r"^[A-Z]{2}$", examples=["DE"])
    city: str = Field(min_length=1, max_length=120, examples=["Berlin"])
    address: str = Field(min_length=1, max_length=500)
    contact_email: Email
    authorisation_number: str = Field(min_length=1, max_length=100, examples=["DE_BE_01_MIA_2024_0042"])
    authorisation_authority: str = Field(min_length=2, max_length=40, examples=["DE-LAGeSo"])
    eudragmdp_ref: str | None = Field(default=None, max_length=100)
    oms_organisation_id: OmsOrganisationId = None
    oms_location_id: OmsLocationId = None


class _Patch(BaseModel):
    """Only the fields sent change; only the `nullable` ones may be sent as null (to clear them)."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    def changes(self) -> dict[str, object]:
        changes = self.model_dump(exclude_unset=True)
        if not changes:
            raise Unprocessable("Send at least one field to change.")
        if cleared := sorted(k for k, v in changes.items() if v is None and k not in self.nullable):
            raise Unprocessable(f"These fields cannot be emptied: {', '.join(cleared)}.", fields=cleared)
        return changes


class FacilityPatch(_Patch):
    """Only the fields sent change. `eudragmdp_ref`, `oms_organisation_id` and `oms_location_id`: null clears them."""

    nullable = frozenset({"eudragmdp_ref", "oms_organisation_id", "oms_location_id"})

    legal_name: str | None = Field(default=None, min_length=2, max_length=300)
    kind: Term | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    city: str | None = Field(default=None, min_length=1, max_length=120)
    address: str | None = Field(default=None, min_length=1, max_length=500)
    contact_email: Email | None = None
    authorisation_number: str | None = Field(default=None, min_length=1, max_length=100)
    authorisation_authority: str | None = Field(default=None, min_length=2, max_length=40)
    eudragmdp_ref: str | None = Field(default=None, max_length=100)
    oms_organisation_id: OmsOrganisationId = None
    oms_location_id: OmsLocationId = None


class ReasonIn(BaseModel):
    reason: Reason


class SignatureIn(ReasonIn):
    """An electronic signature with its reason: the signer and the time come from the token and the clock."""

    meaning: Meaning | None = None


class ReinstatementIn(BaseModel):
    """A signed reinstatement; the reason is optional."""

    reason: Reason | None = None
    meaning: Meaning | None = None


class SuiteIn(BaseModel):
    name: str = Field(min_length=1, max_length=120, examples=["Suite 2 (CAR-T)"])
    cleanroom_grade: Term = Field(examples=["B"])
    atmp_types: Terms = Field(min_length=1, examples=[["gene_therapy", "somatic_cell_therapy"]])
    processes: Terms = Field(default_factory=list, examples=[["car_t", "clinimacs_prodigy"]])
    qc_tests: Terms = Field(default_factory=list, examples=[["sterility", "mycoplasma", "endotoxin"]])
    qp_release: StrictBool = False
    description: str | None = Field(default=None, max_length=4000)


class SuitePatch(_Patch):
    """Only the fields sent change. `description: null` clears it."""

    nullable = frozenset({"description"})

    name: str | None = Field(default=None, min_length=1, max_length=120)
    cleanroom_grade: Term | None = None
    atmp_types: Terms | None = None
    processes: Terms | None = None
    qc_tests: Terms | None = None
    qp_release: StrictBool | None = None
    description: str | None = Field(default=None, max_length=4000)


class CertificateIn(BaseModel):
    number: str = Field(min_length=1, max_length=100, examples=["DE-PEI-GMP-2026-0117"])
    issued_on: IsoDate
    expires_on: IsoDate
    atmp_types: Terms = Field(min_length=1, examples=[["gene_therapy"]])
    operations: Terms = Field(min_length=1, examples=[["aseptic_manufacture", "batch_certification"]])
    eudragmdp_ref: str | None = Field(
        default=None, max_length=100, examples=["DE_BE_01_GMP_2026_0117"],
        description="The reference EudraGMDP gave the document, as issued (opaque: no EU-wide format exists)",
    )  # fmt: skip
    authority: str | None = Field(
        default=None, min_length=2, max_length=40,
        description="The issuing authority; a regulator's token decides it, an admin must name it.",
    )  # fmt: skip
    meaning: Meaning | None = None
    reason: Reason | None = Field(
        default=None, description="Why it is issued (the inspection it follows), kept with the signature."
    )


class CertificateSignatureOut(Signature):
    """One signed action on a certificate (insert-only)."""

    signature_id: UUID
    certificate_id: UUID
    action: str = Field(description="issued | suspended | reinstated | revoked")
    facility_version: int = Field(description="The facility's version the signed change produced.")


class CertificateRecord(CertificateState):
    """A certificate with every signature on it, oldest first. Each holds the SHA-256 of the
    canonical JSON of the state it signed: the latest one matches this state unless the
    certificate changed unsigned since (expired by date, or altered outside the hub)."""

    signatures: list[CertificateSignatureOut]


class NonComplianceIn(BaseModel):
    summary: str = Field(min_length=3, max_length=8000)
    certificate_id: UUID | None = None
    eudragmdp_ref: str | None = Field(
        default=None, max_length=100, examples=["DE_BE_01_GMP_2026_0117"],
        description="The reference EudraGMDP gave the document, as issued (opaque: no EU-wide format exists)",
    )  # fmt: skip
    authority: str | None = Field(default=None, min_length=2, max_length=40, description="Admin only: on whose behalf.")


class NonComplianceOut(BaseModel):
    statement_id: UUID
    facility_id: UUID
    certificate_id: UUID | None
    authority: str
    eudragmdp_ref: str | None = None
    summary: str
    recorded_at: datetime
    recorded_by: str


class FacilityDetail(FacilityState):
    """A facility with its suites (retired ones included), certificate history and statements."""

    updated_at: datetime
    updated_by: str
    deactivation_reason: str | None = None
    suites: list[SuiteState]
    certificates: list[CertificateState]
    noncompliance: list[NonComplianceOut]


class FacilityPage(BaseModel):
    items: list[FacilityState]
    total: int
    page: int
    page_size: int


# --- the public directory: what anyone may read, without signing in ---------------------------
# Only the facility's identity and where it is, its live suites' capabilities and its GMP
# certificates with the dates of their status changes. Never: address, contact e-mail,
# authorisation, EudraGMDP reference, suite descriptions, reasons, non-compliance statements, who
# changed what (README, "The public directory").


class PublicSuite(BaseModel):
    suite_id: UUID
    name: str
    cleanroom_grade: str
    atmp_types: list[str]
    processes: list[str]
    qc_tests: list[str]
    qp_release: bool


class PublicStatusChange(BaseModel):
    status: str  # valid (issued or reinstated) | suspended | revoked | expired
    changed_at: datetime


class PublicCertificate(BaseModel):
    certificate_id: UUID
    number: str
    authority: str
    status: str
    issued_on: date
    expires_on: date
    atmp_types: list[str]
    operations: list[str]
    history: list[PublicStatusChange] = Field(default_factory=list, description="Oldest first")


class PublicFacility(BaseModel):
    """A facility of the directory: active, holding a GMP certificate valid today."""

    facility_id: UUID
    legal_name: str
    kind: str
    country: str
    city: str
    suites: list[PublicSuite]
    certificates: list[PublicCertificate]


class PublicFacilityPage(BaseModel):
    items: list[PublicFacility] = Field(description="Each with its live suites and its certificates valid today")
    total: int
    page: int
    page_size: int


class VocabularyTerm(BaseModel):
    term: str
    label: str


class Vocabularies(BaseModel):
    facility_kinds: list[VocabularyTerm]
    cleanroom_grades: list[VocabularyTerm]
    atmp_types: list[VocabularyTerm]
    processes: list[VocabularyTerm]
    qc_tests: list[VocabularyTerm]
    operations: list[VocabularyTerm]
    countries: list[VocabularyTerm]
    authorities: list[VocabularyTerm] = Field(
        description="Medicines authorities and their state (shared/authorities.py)"
    )
    certificate_statuses: list[VocabularyTerm]

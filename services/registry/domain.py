"""Registry rules, free of frameworks and I/O: the controlled vocabularies, what a facility
profile, a suite and a certificate must satisfy, and the certificate's state machine."""

import re
from dataclasses import dataclass, field, fields
from datetime import date
from enum import StrEnum

from shared.authorities import AUTHORITIES, EEA_STATES, Authority, competent_authorities
from shared.problems import Conflict, Forbidden, PreconditionFailed, Unprocessable

# --- controlled vocabularies ---------------------------------------------------------------------
# Search only works if everyone says "car_t" the same way; free text is kept for descriptions.
# Each vocabulary maps a term to the label a person reads.

FACILITY_KINDS = {
    "academic_gmp_unit": "Academic GMP unit",
    "hospital": "Hospital (hospital exemption or clinical-trial manufacture)",
    "cdmo": "Contract development and manufacturing organisation",
    "biotech": "Biotech company site",
    "tissue_establishment": "Tissue establishment",
}

CLEANROOM_GRADES = {
    "A": "EU GMP Annex 1 grade A",
    "B": "EU GMP Annex 1 grade B",
    "C": "EU GMP Annex 1 grade C",
    "D": "EU GMP Annex 1 grade D",
    "isolator": "Isolator (grade A in a grade D or C background)",
}

ATMP_TYPES = {
    "gene_therapy": "Gene therapy medicinal product",
    "somatic_cell_therapy": "Somatic cell therapy medicinal product",
    "tissue_engineered": "Tissue-engineered product",
    "combined": "Combined ATMP (with a medical device)",
}

PROCESSES = {
    "car_t": "CAR-T cell manufacture",
    "tcr_t": "TCR-T cell manufacture",
    "nk_cell": "NK cell expansion",
    "til": "Tumour-infiltrating lymphocytes",
    "aav": "AAV vector production",
    "lentiviral_vector": "Lentiviral vector production",
    "gamma_retroviral_vector": "Gamma-retroviral vector production",
    "adenoviral_vector": "Adenoviral vector production",
    "plasmid_dna": "GMP plasmid DNA",
    "mrna": "mRNA production",
    "crispr_editing": "CRISPR/Cas gene editing of cells",
    "hsc_gene_modification": "Haematopoietic stem cell gene modification",
    "msc_expansion": "Mesenchymal stromal cell expansion",
    "ipsc_derived": "iPSC-derived cell products",
    "chondrocyte_expansion": "Autologous chondrocyte expansion",
    "keratinocyte_sheet": "Keratinocyte / epidermal sheets",
    "scaffold_seeding": "Cell seeding on scaffolds",
    "fill_finish": "Aseptic fill and finish",
    "cryopreservation": "Controlled-rate cryopreservation",
    # named closed systems
    "clinimacs_prodigy": "Closed system: Miltenyi CliniMACS Prodigy",
    "lonza_cocoon": "Closed system: Lonza Cocoon",
    "cytiva_sepax": "Closed system: Cytiva Sepax C-Pro",
    "cytiva_xuri": "Closed system: Cytiva Xuri W25 bioreactor",
    "terumo_quantum": "Closed system: Terumo Quantum",
    "g_rex": "Closed system: Wilson Wolf G-Rex",
}

QC_TESTS = {
    "sterility": "Sterility (Ph. Eur. 2.6.1 / 2.6.27)",
    "mycoplasma": "Mycoplasma (Ph. Eur. 2.6.7)",
    "endotoxin": "Bacterial endotoxins (Ph. Eur. 2.6.14)",
    "cell_count_viability": "Cell count and viability",
    "flow_cytometry": "Identity and purity by flow cytometry",
    "vector_copy_number": "Vector copy number (qPCR / ddPCR)",
    "transduction_efficiency": "Transduction efficiency",
    "replication_competent_virus": "Replication-competent virus (RCL / RCA / rcAAV)",
    "potency_assay": "Potency assay",
    "vector_titre": "Vector titre (physical / infectious)",
    "residual_dna": "Residual host-cell DNA",
    "adventitious_agents": "Adventitious agents",
    "karyotype": "Karyotype / genetic stability",
    "environmental_monitoring": "Environmental monitoring",
}

OPERATIONS = {
    "aseptic_manufacture": "Manufacture of sterile products, aseptically prepared",
    "non_sterile_manufacture": "Manufacture of non-sterile products",
    "biological_manufacture": "Manufacture of biological medicinal products",
    "primary_packaging": "Primary packaging",
    "secondary_packaging": "Secondary packaging",
    "quality_control_testing": "Quality control testing",
    "batch_certification": "Batch certification (QP release)",
    "importation": "Importation of medicinal products",
    "storage_distribution": "Storage and distribution",
}

# ISO 3166-1 alpha-2 codes of the EU/EEA member states and the other countries the hub serves.
COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
    "IS LI NO CH GB UA RS ME MK AL BA TR IL US CA JP KR AU".split()
)

VOCABULARIES: dict[str, dict[str, str]] = {
    "facility_kinds": FACILITY_KINDS,
    "cleanroom_grades": CLEANROOM_GRADES,
    "atmp_types": ATMP_TYPES,
    "processes": PROCESSES,
    "qc_tests": QC_TESTS,
    "operations": OPERATIONS,
    "countries": {code: code for code in sorted(COUNTRIES)},
    "authorities": {a.code: f"{a.name} ({a.state or 'EU'})" for a in AUTHORITIES.values()},
}


def check_term(vocabulary: str, term: str, *, field_name: str) -> str:
    """`term` if the vocabulary holds it; otherwise a 422 naming the bad term and the allowed ones."""
    allowed = VOCABULARIES[vocabulary]
    if term not in allowed:
        raise Unprocessable(
            f"Unknown {field_name} term {term!r}; allowed: {', '.join(allowed)}.",
            field=field_name,
            term=term,
            vocabulary=vocabulary,
            allowed=list(allowed),
        )
    return term


def check_terms(vocabulary: str, terms: list[str] | tuple[str, ...], *, field_name: str) -> tuple[str, ...]:
    """The terms, each checked, duplicates dropped, order kept."""
    return tuple(dict.fromkeys(check_term(vocabulary, t, field_name=field_name) for t in terms))


# --- EMA identifiers -----------------------------------------------------------------------------
# EMA's Organisation Management Service (SPOR/OMS) names an organisation `ORG-` and each of its
# sites `LOC-` followed by 9 digits; a site must be in OMS before it appears on a EudraGMDP document.
# People copy them with and without the prefix, so bare digits are accepted and stored prefixed.

_OMS_ID = re.compile(r"(?:(ORG|LOC)-)?(\d{9})", re.IGNORECASE)


def oms_id(value: str | None, prefix: str, *, field_name: str) -> str | None:
    """`value` as `<prefix>-<9 digits>` (None stays None), or a 422 saying what an OMS id looks like."""
    if value is None:
        return None
    match = _OMS_ID.fullmatch(value.strip())
    if match is None or (match.group(1) or prefix).upper() != prefix:
        raise Unprocessable(
            f"{value!r} is not an EMA OMS {'organisation' if prefix == 'ORG' else 'location'} id: "
            f"{prefix}- followed by 9 digits (e.g. {prefix}-100000151), or the 9 digits alone.",
            field=field_name,
            term=value,
        )
    return f"{prefix}-{match.group(2)}"


# --- the competent-authority rule ----------------------------------------------------------------
# A GMP certificate or non-compliance statement about a site in an EU/EEA state is issued by that
# state's competent authority (Directive 2001/83/EC Art. 111); a site in a third country may be
# inspected and certified by any EU/EEA authority. No role sets it aside, the hub operator's neither.

COMPETENT_AUTHORITY_RULE = "competent_authority"


class NotCompetent(Forbidden):
    """An authority acting on a site it is not competent for."""

    title = "Authority not competent for the site"


def check_known_authority(code: str, *, field_name: str = "authority") -> Authority:
    """The authority `code` names, or a 422 naming the unknown code (the list: shared/authorities.py)."""
    if code not in AUTHORITIES:
        raise Unprocessable(
            f"Unknown authority {code!r}; the hub knows {len(AUTHORITIES)} (GET /v1/vocabularies, 'authorities').",
            field=field_name,
            term=code,
            vocabulary="authorities",
        )
    return AUTHORITIES[code]


def may_change_certificate(issuer: str, acting: str | None, country: str) -> bool:
    """Whether authority `acting` may suspend, reinstate or revoke a certificate `issuer` issued for a
    site in `country`: its issuer; and when the issuer is not competent for the site (another
    state's authority, before the competent-authority rule), that state's own authorities, so that
    the certificate is not left in no one's hands. Either must also be competent (`check_competent`)."""
    if acting == issuer:
        return True
    competent = competent_authorities(country)
    return country in EEA_STATES and issuer not in competent and acting in competent


def check_competent(code: str, country: str, *, act: str) -> None:
    """Refuse (403, naming the rule) `act` by authority `code` on a site in `country` unless the
    authority is competent for it."""
    competent = competent_authorities(country)
    if code in competent:
        return
    authority = AUTHORITIES.get(code)
    if authority is None:
        why = f"{code} is not an authority the hub knows"
    elif authority.state is None:
        why = f"{code} acts for no member state; GMP inspections are the member states' authorities'"
    else:
        why = f"{code} is {authority.state}'s, and a site in {country} is certified by {country}'s authorities"
    raise NotCompetent(
        f"{code} may not {act} for a site in {country}: {why} (rule {COMPETENT_AUTHORITY_RULE}: a site in an "
        "EU/EEA state is certified by that state's competent authority, a site elsewhere by any EU/EEA authority).",
        rule=COMPETENT_AUTHORITY_RULE,
        authority=code,
        site_country=country,
        competent=competent if country in EEA_STATES else ["any EU/EEA member state's authority"],
    )


# --- facility ------------------------------------------------------------------------------------

# The authorisation is what the hub operator checked at onboarding; a facility may not change it.
# Nor its country: that decides which authorities are competent for the site.
ADMIN_ONLY_FIELDS = frozenset({"authorisation_number", "authorisation_authority", "country"})


@dataclass(frozen=True)
class FacilityProfile:
    legal_name: str
    kind: str
    country: str
    city: str
    address: str
    contact_email: str
    authorisation_number: str
    authorisation_authority: str
    eudragmdp_ref: str | None = None
    oms_organisation_id: str | None = None
    oms_location_id: str | None = None

    def __post_init__(self) -> None:
        check_term("facility_kinds", self.kind, field_name="kind")
        organisation = oms_id(self.oms_organisation_id, "ORG", field_name="oms_organisation_id")
        object.__setattr__(self, "oms_organisation_id", organisation)
        location = oms_id(self.oms_location_id, "LOC", field_name="oms_location_id")
        object.__setattr__(self, "oms_location_id", location)
        object.__setattr__(self, "eudragmdp_ref", eudragmdp_reference(self.eudragmdp_ref))  # as searches trim it
        if self.country not in COUNTRIES:
            raise Unprocessable(
                f"Unknown country code {self.country!r}; use ISO 3166-1 alpha-2, e.g. DE.",
                field="country",
                term=self.country,
                allowed=sorted(COUNTRIES),
            )

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def check_profile_change(changes: dict[str, object], *, by_admin: bool) -> None:
    """A facility user may edit its profile except what the hub operator verified."""
    if by_admin:
        return
    if locked := sorted(ADMIN_ONLY_FIELDS & changes.keys()):
        raise Unprocessable(f"Only the hub operator may change {', '.join(locked)}.", fields=locked)


def check_version(current: int, expected: int) -> None:
    """Optimistic concurrency: a write based on an older version must not overwrite a newer one."""
    if current != expected:
        raise PreconditionFailed(
            f"The facility changed since you read it (you sent version {expected}, it is at {current}); "
            "read it again and retry.",
            current_version=current,
        )


# --- suites ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteSpec:
    """A manufacturing room or line and what it can do."""

    name: str
    cleanroom_grade: str
    atmp_types: tuple[str, ...]
    processes: tuple[str, ...] = ()
    qc_tests: tuple[str, ...] = ()
    qp_release: bool = False
    description: str | None = None

    def __post_init__(self) -> None:
        check_term("cleanroom_grades", self.cleanroom_grade, field_name="cleanroom_grade")
        if not self.atmp_types:
            raise Unprocessable("A suite must name at least one ATMP type it can make.", field="atmp_types")
        object.__setattr__(self, "atmp_types", check_terms("atmp_types", self.atmp_types, field_name="atmp_types"))
        object.__setattr__(self, "processes", check_terms("processes", self.processes, field_name="processes"))
        object.__setattr__(self, "qc_tests", check_terms("qc_tests", self.qc_tests, field_name="qc_tests"))

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


# --- certificates ------------------------------------------------------------------------------


class CertificateStatus(StrEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


# What each action may start from and where it leads: valid → suspended ↔ valid; revoked and
# expired are final.
TRANSITIONS: dict[str, tuple[frozenset[CertificateStatus], CertificateStatus]] = {
    "suspend": (frozenset({CertificateStatus.VALID}), CertificateStatus.SUSPENDED),
    "reinstate": (frozenset({CertificateStatus.SUSPENDED}), CertificateStatus.VALID),
    "revoke": (frozenset({CertificateStatus.VALID, CertificateStatus.SUSPENDED}), CertificateStatus.REVOKED),
    "expire": (frozenset({CertificateStatus.VALID, CertificateStatus.SUSPENDED}), CertificateStatus.EXPIRED),
}
NEEDS_REASON = frozenset({"suspend", "revoke"})
# Statuses the expiry job looks at: a certificate still in force on paper.
EXPIRABLE = TRANSITIONS["expire"][0]


@dataclass(frozen=True)
class CertificateTerms:
    """What a regulator states when issuing a GMP certificate."""

    number: str
    authority: str
    issued_on: date
    expires_on: date
    atmp_types: tuple[str, ...]
    operations: tuple[str, ...]
    eudragmdp_ref: str | None = None  # as EudraGMDP numbered it: opaque, no EU-wide format exists
    today: date = field(compare=False, repr=False, default_factory=date.today)

    def __post_init__(self) -> None:
        object.__setattr__(self, "eudragmdp_ref", eudragmdp_reference(self.eudragmdp_ref))
        if self.expires_on <= self.issued_on:
            raise Unprocessable(
                f"The expiry date {self.expires_on} must be after the issue date {self.issued_on}.",
                field="expires_on",
            )
        if self.issued_on > self.today:
            raise Unprocessable(f"The issue date {self.issued_on} is in the future.", field="issued_on")
        if self.expires_on < self.today:
            raise Unprocessable(f"The certificate already expired on {self.expires_on}.", field="expires_on")
        if not self.atmp_types or not self.operations:
            raise Unprocessable("A certificate's scope names at least one ATMP type and one operation.")
        object.__setattr__(self, "atmp_types", check_terms("atmp_types", self.atmp_types, field_name="atmp_types"))
        object.__setattr__(self, "operations", check_terms("operations", self.operations, field_name="operations"))


def eudragmdp_reference(value: str | None) -> str | None:
    """A EudraGMDP document's reference as issued, trimmed; blank means none."""
    return (value or "").strip() or None


def next_status(current: str, action: str, *, reason: str | None, expires_on: date, today: date) -> CertificateStatus:
    """Where `action` takes a certificate in `current` status, or a clear refusal."""
    allowed_from, target = TRANSITIONS[action]
    status = CertificateStatus(current)
    if status not in allowed_from:
        raise Conflict(
            f"A {status.value} certificate cannot be {target.value}; "
            f"'{action}' applies to {', '.join(sorted(s.value for s in allowed_from))} certificates.",
            certificate_status=status.value,
        )
    if action in NEEDS_REASON and not (reason and reason.strip()):
        raise Unprocessable(f"To {action} a certificate, give a reason.", field="reason")
    if action == "reinstate" and expires_on < today:
        raise Conflict(f"The certificate expired on {expires_on}; it cannot be reinstated.")
    if action == "expire" and expires_on >= today:
        raise Conflict(f"The certificate is in force until {expires_on}.")
    return target

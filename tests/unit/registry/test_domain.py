"""Registry domain rules: vocabularies, profiles, suites, certificate terms and state machine."""

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registry.domain import (
    COMPETENT_AUTHORITY_RULE,
    VOCABULARIES,
    CertificateStatus,
    CertificateTerms,
    FacilityProfile,
    NotCompetent,
    SuiteSpec,
    check_competent,
    check_known_authority,
    check_profile_change,
    check_term,
    check_version,
    competent_authorities,
    may_change_certificate,
    next_status,
    oms_id,
)
from shared.authorities import AUTHORITIES, EEA_STATES
from shared.errors import Conflict, Forbidden, PreconditionFailed, Unprocessable

TODAY = date(2026, 6, 1)
PROFILE = FacilityProfile(
    legal_name="Charité GMP Unit", kind="hospital", country="DE", city="Berlin", address="Augustenburger Platz 1",
    contact_email="qa@gmp.example.org", authorisation_number="DE_BE_01", authorisation_authority="DE-LAGeSo",
)  # fmt: skip


def terms(**overrides) -> CertificateTerms:
    values = dict(
        number="DE-PEI-1", authority="DE-PEI", issued_on=date(2026, 1, 10), expires_on=date(2029, 1, 10),
        atmp_types=("gene_therapy",), operations=("aseptic_manufacture",), today=TODAY,
    )  # fmt: skip
    return CertificateTerms(**(values | overrides))


def test_vocabularies_hold_the_terms_the_design_names():
    assert set(VOCABULARIES["cleanroom_grades"]) == {"A", "B", "C", "D", "isolator"}
    assert set(VOCABULARIES["atmp_types"]) == {"gene_therapy", "somatic_cell_therapy", "tissue_engineered", "combined"}
    assert {"car_t", "aav", "lentiviral_vector", "msc_expansion", "clinimacs_prodigy"} <= set(VOCABULARIES["processes"])


def test_an_unknown_term_is_named_with_the_allowed_ones():
    with pytest.raises(Unprocessable) as caught:
        check_term("atmp_types", "xenotransplant", field_name="atmp_types")
    assert "xenotransplant" in caught.value.detail
    assert caught.value.extensions["term"] == "xenotransplant"
    assert caught.value.extensions["allowed"] == list(VOCABULARIES["atmp_types"])


def test_profile_checks_kind_and_country():
    with pytest.raises(Unprocessable, match="'spaceport'"):
        replace(PROFILE, kind="spaceport")
    with pytest.raises(Unprocessable, match="'XX'"):
        replace(PROFILE, country="XX")


def test_a_facility_eudragmdp_reference_is_kept_trimmed_as_searches_trim_it():
    assert replace(PROFILE, eudragmdp_ref=" DE_BE_01 ").eudragmdp_ref == "DE_BE_01"
    assert replace(PROFILE, eudragmdp_ref="  ").eudragmdp_ref is None


def test_a_facility_user_cannot_change_its_authorisation_but_admin_can():
    with pytest.raises(Unprocessable, match="authorisation_number"):
        check_profile_change({"authorisation_number": "X", "city": "Bonn"}, by_admin=False)
    check_profile_change({"city": "Bonn"}, by_admin=False)
    check_profile_change({"authorisation_number": "X"}, by_admin=True)


def test_a_stale_version_is_refused():
    check_version(3, 3)
    with pytest.raises(PreconditionFailed):
        check_version(4, 3)


def test_suite_terms_are_checked_and_deduplicated():
    suite = SuiteSpec(name="S1", cleanroom_grade="B", atmp_types=["gene_therapy", "gene_therapy"], processes=["car_t"])
    assert suite.atmp_types == ("gene_therapy",)
    assert suite.processes == ("car_t",)
    for bad in ({"cleanroom_grade": "E"}, {"processes": ["alchemy"]}, {"qc_tests": ["vibes"]}, {"atmp_types": []}):
        with pytest.raises(Unprocessable):
            SuiteSpec(**({"name": "S1", "cleanroom_grade": "A", "atmp_types": ["combined"]} | bad))


def test_certificate_expiry_must_follow_issue():
    with pytest.raises(Unprocessable, match="after the issue date"):
        terms(expires_on=date(2026, 1, 10))
    with pytest.raises(Unprocessable, match="after the issue date"):
        terms(expires_on=date(2025, 1, 10))


def test_certificate_dates_against_today():
    with pytest.raises(Unprocessable, match="already expired"):
        terms(issued_on=date(2023, 1, 1), expires_on=date(2026, 5, 31))
    with pytest.raises(Unprocessable, match="future"):
        terms(issued_on=date(2026, 6, 2))
    assert terms(issued_on=TODAY, expires_on=date(2026, 6, 2)).expires_on == date(2026, 6, 2)


def test_certificate_scope_uses_the_vocabularies():
    with pytest.raises(Unprocessable, match="'brewing'"):
        terms(operations=("brewing",))
    with pytest.raises(Unprocessable):
        terms(atmp_types=())


VALID, SUSPENDED, REVOKED, EXPIRED = (s.value for s in CertificateStatus)
FUTURE = date(2029, 1, 1)


@pytest.mark.parametrize(
    ("current", "action", "expected"),
    [
        (VALID, "suspend", SUSPENDED),
        (SUSPENDED, "reinstate", VALID),
        (VALID, "revoke", REVOKED),
        (SUSPENDED, "revoke", REVOKED),
    ],
)
def test_allowed_transitions(current, action, expected):
    assert next_status(current, action, reason="a reason", expires_on=FUTURE, today=TODAY) == expected


@pytest.mark.parametrize(
    ("current", "action"),
    [
        (SUSPENDED, "suspend"),
        (VALID, "reinstate"),
        (REVOKED, "reinstate"),
        (REVOKED, "suspend"),
        (REVOKED, "revoke"),
        (EXPIRED, "reinstate"),
        (EXPIRED, "suspend"),
        (EXPIRED, "expire"),
        (REVOKED, "expire"),
    ],
)
def test_refused_transitions(current, action):
    with pytest.raises(Conflict):
        next_status(current, action, reason="a reason", expires_on=date(2020, 1, 1), today=TODAY)


def test_suspend_and_revoke_need_a_reason():
    for action in ("suspend", "revoke"):
        for reason in (None, "  "):
            with pytest.raises(Unprocessable, match="reason"):
                next_status(VALID, action, reason=reason, expires_on=FUTURE, today=TODAY)
    assert next_status(SUSPENDED, "reinstate", reason=None, expires_on=FUTURE, today=TODAY) == VALID


def test_expiry_goes_by_date():
    assert next_status(SUSPENDED, "expire", reason=None, expires_on=date(2026, 5, 31), today=TODAY) == EXPIRED
    with pytest.raises(Conflict):  # in force through its expiry day
        next_status(VALID, "expire", reason=None, expires_on=TODAY, today=TODAY)
    with pytest.raises(Conflict, match="cannot be reinstated"):
        next_status(SUSPENDED, "reinstate", reason=None, expires_on=date(2026, 5, 31), today=TODAY)


@given(st.lists(st.sampled_from(["suspend", "reinstate", "revoke", "expire"]), max_size=12))
def test_any_sequence_of_actions_stays_in_the_state_machine(actions):
    """Revoked and expired are final; a refused action leaves the status as it was."""
    status = CertificateStatus.VALID
    for action in actions:
        try:
            after = next_status(status, action, reason="r", expires_on=date(2026, 1, 1), today=TODAY)
        except Conflict:
            assert status in (CertificateStatus.REVOKED, CertificateStatus.EXPIRED) or (
                (status, action) in {(CertificateStatus.VALID, "reinstate"), (CertificateStatus.SUSPENDED, "suspend"),
                                     (CertificateStatus.SUSPENDED, "reinstate")}  # reinstate: past its expiry
            )  # fmt: skip
            continue
        assert status not in (CertificateStatus.REVOKED, CertificateStatus.EXPIRED)
        status = after


# --- EMA identifiers and the competent-authority rule ------------------------------------------


@pytest.mark.parametrize(
    ("given", "prefix", "stored"),
    [("LOC-100000151", "LOC", "LOC-100000151"), ("100000151", "LOC", "LOC-100000151"),
     (" loc-100000151 ", "LOC", "LOC-100000151"), ("ORG-100001699", "ORG", "ORG-100001699"), (None, "ORG", None)],
)  # fmt: skip
def test_oms_ids_are_stored_prefixed(given, prefix, stored):
    assert oms_id(given, prefix, field_name="f") == stored


@pytest.mark.parametrize("bad", ["LOC-10000015", "1000001510", "ORG-100000151", "LOC 100000151", "", "LOC-"])
def test_malformed_oms_location_ids_are_refused(bad):
    with pytest.raises(Unprocessable, match="OMS location id") as refused:
        oms_id(bad, "LOC", field_name="oms_location_id")
    assert refused.value.extensions["field"] == "oms_location_id"


def test_every_eu_eea_state_has_a_competent_authority_and_only_its_own_certify_there():
    for state in EEA_STATES:
        competent = competent_authorities(state)
        assert competent and all(AUTHORITIES[code].state == state for code in competent), state
    assert {"DE-PEI", "DE-LAGeSo", "DE-RegOB"} <= set(competent_authorities("DE"))
    assert "EMA" not in competent_authorities("US")
    assert set(competent_authorities("US")) == {a.code for a in AUTHORITIES.values() if a.state}


@pytest.mark.parametrize(
    ("authority", "country", "allowed"),
    [("DE-PEI", "DE", True), ("DE-LAGeSo", "DE", True), ("FR-ANSM", "DE", False), ("EMA", "DE", False),
     ("FR-ANSM", "US", True), ("NO-NOMA", "CH", True), ("EMA", "US", False), ("XX-NOBODY", "US", False),
     ("NL-IGJ", "NL", True), ("NL-IGJ", "BE", False)],
)  # fmt: skip
def test_the_competent_authority_rule(authority, country, allowed):
    if allowed:
        check_competent(authority, country, act="issue a GMP certificate")
        return
    with pytest.raises(NotCompetent) as refused:
        check_competent(authority, country, act="issue a GMP certificate")
    assert refused.value.extensions["rule"] == COMPETENT_AUTHORITY_RULE
    assert isinstance(refused.value, Forbidden)


@pytest.mark.parametrize(
    ("issuer", "acting", "country", "allowed"),
    [
        ("DE-PEI", "DE-PEI", "DE", True),  # its issuer
        ("FR-ANSM", "DE-PEI", "DE", True),  # the site's own authority, for one issued before the rule
        ("DE-PEI", "DE-RPF", "DE", False),  # another competent authority: the issuer still holds it
        ("FR-ANSM", "NL-IGJ", "DE", False),  # neither
        ("FR-ANSM", "NL-IGJ", "US", False),  # a third-country site's certificate stays its issuer's
        ("FR-ANSM", "", "DE", False),  # no authority at all
    ],
)
def test_who_may_change_a_certificate(issuer, acting, country, allowed):
    assert may_change_certificate(issuer, acting, country) is allowed


def test_an_unknown_authority_is_named():
    assert check_known_authority("IT-AIFA").state == "IT"
    with pytest.raises(Unprocessable, match="'IT-AFIA'"):
        check_known_authority("IT-AFIA")

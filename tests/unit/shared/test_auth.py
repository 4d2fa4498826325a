"""Token verification and the role/scope rules, without a server."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import Principal, Role, TokenVerifier, ensure_dev_keys, issue_token
from shared.errors import Forbidden, InsufficientUserAuthentication, Unauthorized, challenge
from shared.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    config = Settings(data_dir=tmp_path)
    ensure_dev_keys(config.keys_dir)
    return config


def test_a_development_token_verifies_with_its_claims(settings):
    token = issue_token(
        settings, role=Role.FACILITY, sub="u1", facility_ids=["F-1", "F-2"], name="Uma User", auth_time=1_795_000_000
    )
    principal = TokenVerifier(settings).verify(token)
    assert principal == Principal(
        sub="u1", role=Role.FACILITY, facility_ids=frozenset({"F-1", "F-2"}), name="Uma User", auth_time=1_795_000_000
    )
    assert (principal.actor, principal.display_name) == ("facility:u1", "Uma User")


def test_a_token_signed_by_another_key_is_refused(settings):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    claims = {"sub": "x", "role": "admin", "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
              "exp": int(time.time()) + 60}  # fmt: skip
    with pytest.raises(Unauthorized, match="Signature verification failed"):
        TokenVerifier(settings).verify(jwt.encode(claims, pem, algorithm="RS256"))


def test_an_expired_token_is_refused(settings):
    token = issue_token(settings, role=Role.ADMIN, ttl_seconds=-10)
    with pytest.raises(Unauthorized, match="expired"):
        TokenVerifier(settings).verify(token)


def test_a_token_for_another_audience_is_refused(settings):
    other = settings.model_copy(update={"jwt_audience": "someone-else"})
    with pytest.raises(Unauthorized, match="Audience doesn.t match"):
        TokenVerifier(settings).verify(issue_token(other, role=Role.ADMIN))


def test_an_unknown_role_is_refused(settings):
    key = (settings.keys_dir / "jwt-private.pem").read_bytes()
    claims = {"sub": "x", "role": "superuser", "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
              "exp": int(time.time()) + 60}  # fmt: skip
    with pytest.raises(Unauthorized, match="Unknown role"):
        TokenVerifier(settings).verify(jwt.encode(claims, key, algorithm="RS256"))


@pytest.mark.parametrize(
    ("role", "claims", "message"),
    [(Role.DEVELOPER, {}, "--org"), (Role.FACILITY, {}, "--facility-id"), (Role.REGULATOR, {}, "--authority")],
)
def test_a_scoped_role_needs_its_scope_claim(settings, role, claims, message):
    with pytest.raises(ValueError, match=message):
        issue_token(settings, role=role, **claims)


def test_scopes_confine_each_role():
    facility = Principal(sub="u", role=Role.FACILITY, facility_ids=frozenset({"F-1"}))
    developer = Principal(sub="d", role=Role.DEVELOPER, org_id="ORG-1")
    regulator = Principal(sub="r", role=Role.REGULATOR, authority="DE-PEI")
    admin = Principal(sub="a", role=Role.ADMIN)

    facility.require_facility("F-1")
    with pytest.raises(Forbidden):
        facility.require_facility("F-2")
    developer.require_org("ORG-1")
    with pytest.raises(Forbidden):
        developer.require_org("ORG-2")
    with pytest.raises(Forbidden):
        developer.require_facility("F-1")
    regulator.require_authority("DE-PEI")
    with pytest.raises(Forbidden):
        regulator.require_authority("FR-ANSM")
    with pytest.raises(Forbidden):
        developer.require_role(Role.REGULATOR)
    for check in (admin.require_facility, admin.require_org, admin.require_authority):
        check("anything")  # the hub operator sees everything
    admin.require_role(Role.REGULATOR)


def test_any_regulator_reads_an_org_or_facility_others_outside_it_may_not():
    regulator = Principal(sub="r", role=Role.REGULATOR, authority="DE-PEI")
    developer = Principal(sub="d", role=Role.DEVELOPER, org_id="ORG-1")
    facility = Principal(sub="u", role=Role.FACILITY, facility_ids=frozenset({"F-1"}))
    regulator.require_org_reader("ORG-2")  # inspection reaches every organisation and facility
    regulator.require_facility_reader("F-2")
    developer.require_org_reader("ORG-1")
    facility.require_facility_reader("F-1")
    for refused in (lambda: developer.require_org_reader("ORG-2"), lambda: facility.require_facility_reader("F-2"),
                    lambda: developer.require_facility_reader("F-1"), lambda: facility.require_org_reader("ORG-1")):  # fmt: skip
        with pytest.raises(Forbidden):
            refused()


def test_a_token_verified_once_is_not_decoded_again_until_it_expires(settings, monkeypatch):
    verifier = TokenVerifier(settings)
    token = issue_token(settings, role=Role.DEVELOPER, sub="d1", org_id="ORG-1", ttl_seconds=1, auth_time=None)
    decoded, decode = [], jwt.decode

    def counted(*args, **kwargs):
        decoded.append(token)
        return decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    first = verifier.verify(token)
    assert verifier.verify(token) == first == Principal(sub="d1", role=Role.DEVELOPER, org_id="ORG-1")
    assert len(decoded) == 1
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(exp - time.time(), 0) + 0.05)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)


def test_the_verified_tokens_kept_are_bounded_and_the_least_recently_used_go_first(settings, monkeypatch):
    verifier = TokenVerifier(settings)
    monkeypatch.setattr(verifier, "CACHED_TOKENS", 2)
    a, b, c = (issue_token(settings, role=Role.ADMIN, sub=sub) for sub in "abc")
    for token in (a, b, a, c):  # a used again after b: b is the least recently used when c comes
        verifier.verify(token)
    assert list(verifier._verified) == [a, c]


def test_a_token_is_verified_again_after_the_recheck_interval(settings, monkeypatch):
    verifier = TokenVerifier(settings)
    token = issue_token(settings, role=Role.ADMIN, sub="a")
    verifier.verify(token)
    later = time.time() + verifier.RECHECK_SECONDS + 1

    def key_withdrawn(token: str):
        raise Unauthorized("The token is not valid: key withdrawn.")

    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(verifier, "_decode", key_withdrawn)
    with pytest.raises(Unauthorized, match="key withdrawn"):
        verifier.verify(token)


def test_a_development_token_says_the_user_authenticated_now_unless_told_otherwise(settings):
    claims = [
        jwt.decode(issue_token(settings, role=Role.ADMIN, **kw), options={"verify_signature": False})
        for kw in ({}, {"auth_time": 1_700_000_000}, {"auth_time": None})
    ]
    assert claims[0]["auth_time"] == claims[0]["iat"] and claims[1]["auth_time"] == 1_700_000_000
    assert "auth_time" not in claims[2] and "name" not in claims[0]
    assert TokenVerifier(settings).verify(issue_token(settings, role=Role.ADMIN, sub="a")).display_name == "a"


def test_a_token_whose_auth_time_is_no_time_is_refused(settings):
    private = serialization.load_pem_private_key(ensure_dev_keys(settings.keys_dir).read_bytes(), password=None)
    claims = {"sub": "x", "role": "admin", "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
              "exp": int(time.time()) + 60, "auth_time": "yesterday"}  # fmt: skip
    with pytest.raises(Unauthorized, match="auth_time is not a time"):
        TokenVerifier(settings).verify(jwt.encode(claims, private, algorithm="RS256"))


@pytest.mark.parametrize(
    ("auth_time", "refused"),
    [(1000, False), (1000 - 300, False), (1000 - 301, True), (1000 - 600, True), (None, True)],
)
def test_a_signature_needs_a_sign_in_at_most_max_age_old_and_a_token_that_does_not_say_when_is_too_old(
    auth_time, refused
):
    signer = Principal(sub="r1", role=Role.REGULATOR, authority="DE-PEI", auth_time=auth_time)
    if not refused:
        signer.require_recent_authentication(300, now=1000)
        return
    with pytest.raises(InsufficientUserAuthentication, match="Signing needs a fresh sign-in") as refusal:
        signer.require_recent_authentication(300, now=1000)
    assert refusal.value.max_age == 300 and refusal.value.extensions == {"max_age": 300}
    assert isinstance(refusal.value, Unauthorized)  # a 401


def test_the_step_up_refusal_challenges_as_rfc_9470_says_and_other_401s_plainly():
    stale = InsufficientUserAuthentication("old", max_age=120)
    assert challenge(stale) == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="A signature needs an authentication at most 120 seconds old", max_age=120'
    )
    assert challenge(Unauthorized("no token")) == "Bearer"

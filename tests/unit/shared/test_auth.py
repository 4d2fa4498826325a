"""Token verification and the role/scope rules, without a server."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import Principal, Role, TokenVerifier, ensure_dev_keys, issue_token
from shared.errors import Forbidden, Unauthorized
from shared.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    config = Settings(data_dir=tmp_path)
    ensure_dev_keys(config.keys_dir)
    return config


def test_a_development_token_verifies_with_its_claims(settings):
    token = issue_token(settings, role=Role.FACILITY, sub="u1", facility_ids=["F-1", "F-2"])
    principal = TokenVerifier(settings).verify(token)
    assert principal == Principal(sub="u1", role=Role.FACILITY, facility_ids=frozenset({"F-1", "F-2"}))
    assert principal.actor == "facility:u1"


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


def test_a_token_verified_once_is_not_decoded_again_until_it_expires(settings, monkeypatch):
    verifier = TokenVerifier(settings)
    token = issue_token(settings, role=Role.DEVELOPER, sub="d1", org_id="ORG-1", ttl_seconds=1)
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

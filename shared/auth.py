"""JWT bearer authentication and the role/scope rules of the design.

Development: `gmp-hub up` makes an RSA key pair under the data folder; `gmp-hub token` signs
with it and the services verify with its public half. Production: `GMPHUB_JWT_JWKS_URL` names
the OIDC provider's JWKS and the services verify against it.
"""

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.errors import Forbidden, InsufficientUserAuthentication, Unauthorized
from shared.observability import acting_person
from shared.settings import Settings, get_settings


class Role(StrEnum):
    FACILITY = "facility"
    DEVELOPER = "developer"
    REGULATOR = "regulator"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject, role and scope claims, the person's name (`name`)
    and when they last authenticated (`auth_time`, seconds since the epoch)."""

    sub: str
    role: Role
    org_id: str | None = None
    facility_ids: frozenset[str] = field(default_factory=frozenset)
    authority: str | None = None
    name: str | None = None
    auth_time: int | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return f"{self.role}:{self.sub}"

    @property
    def display_name(self) -> str:
        """How a signature names its signer: the token's `name`, else its subject."""
        return self.name or self.sub

    def require_recent_authentication(self, max_age: int, *, now: float | None = None) -> None:
        """A signature needs a sign-in at most `max_age` seconds old (21 CFR 11.200: the signer
        authenticates for it, not just holds a token). A token that does not say when is too old."""
        if self.auth_time is None:
            raise InsufficientUserAuthentication(
                "Signing needs a fresh sign-in, and this token does not say when you signed in (no auth_time). "
                "Sign in again, then sign.",
                max_age=max_age,
            )
        age = int((time.time() if now is None else now) - self.auth_time)
        if age > max_age:
            raise InsufficientUserAuthentication(
                f"Signing needs a fresh sign-in: you signed in {age} seconds ago, a signature accepts at most "
                f"{max_age}. Sign in again, then sign.",
                max_age=max_age,
            )

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles and not self.is_admin:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"This action needs the role {allowed}; the token has {self.role.value}.")

    def require_facility(self, facility_id: str) -> None:
        """Admin, or a facility user whose token lists `facility_id`."""
        if self.is_admin:
            return
        if self.role is not Role.FACILITY or str(facility_id) not in self.facility_ids:
            raise Forbidden(f"This token may not act for facility {facility_id}.")

    def require_org(self, org_id: str) -> None:
        if self.is_admin:
            return
        if self.role is not Role.DEVELOPER or self.org_id != org_id:
            raise Forbidden(f"This token may not act for organisation {org_id}.")

    def require_org_reader(self, org_id: str) -> None:
        """To read an organisation's records: the organisation, admin, or any regulator (inspection)."""
        if self.role is not Role.REGULATOR:
            self.require_org(org_id)

    def require_facility_reader(self, facility_id: str) -> None:
        """To read a facility's records: its users, admin, or any regulator (inspection)."""
        if self.role is not Role.REGULATOR:
            self.require_facility(facility_id)

    def require_authority(self, authority: str) -> None:
        if self.is_admin:
            return
        if self.role is not Role.REGULATOR or self.authority != authority:
            raise Forbidden(f"Only the authority {authority} (or an admin) may do this.")


# --- development keys -------------------------------------------------------------------------


def ensure_dev_keys(keys_dir: Path) -> Path:
    """Create the development RSA key pair once; return the private key's path."""
    private_path = keys_dir / "jwt-private.pem"
    public_path = keys_dir / "jwt-public.pem"
    if private_path.exists() and public_path.exists():
        return private_path
    keys_dir.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path


@lru_cache(maxsize=4)
def _signing_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} holds no RSA private key")
    return key


def issue_token(
    settings: Settings,
    *,
    role: Role,
    sub: str | None = None,
    org_id: str | None = None,
    facility_ids: list[str] | None = None,
    authority: str | None = None,
    name: str | None = None,
    auth_time: int | Literal["now"] | None = "now",
    ttl_seconds: int = 12 * 3600,
) -> str:
    """Sign a development token with the hub's development key. `auth_time` says when the user
    authenticated: now unless given (seconds since the epoch), left out if None."""
    if role is Role.DEVELOPER and not org_id:
        raise ValueError("a developer token needs --org")
    if role is Role.FACILITY and not facility_ids:
        raise ValueError("a facility token needs at least one --facility-id")
    if role is Role.REGULATOR and not authority:
        raise ValueError("a regulator token needs --authority")
    private_key = _signing_key(ensure_dev_keys(settings.keys_dir))
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": sub or f"{role.value}-{uuid.uuid4().hex[:8]}",
        "iat": now,
        "exp": now + ttl_seconds,
        "role": role.value,
    }
    if org_id:
        claims["org_id"] = org_id
    if facility_ids:
        claims["facility_ids"] = facility_ids
    if authority:
        claims["authority"] = authority
    if name:
        claims["name"] = name
    if auth_time is not None:
        claims["auth_time"] = now if auth_time == "now" else auth_time
    return jwt.encode(claims, private_key, algorithm="RS256")


# --- verification ----------------------------------------------------------------------------


class TokenVerifier:
    """Verifies bearer tokens. A client sends the same token with every request until it expires:
    the principal of a token verified once is kept (the most recently used `CACHED_TOKENS`) until
    the token's `exp`, but at most `RECHECK_SECONDS`, so a key withdrawn from the JWKS stops
    being honoured soon after. Only tokens that verified are kept."""

    CACHED_TOKENS = 1024
    RECHECK_SECONDS = 300.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True) if settings.jwt_jwks_url else None
        self._public_key: bytes | None = None
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def _key_for(self, token: str) -> Any:
        if self._jwks is not None:
            return self._jwks.get_signing_key_from_jwt(token).key
        if self._public_key is None:
            path = self.settings.jwt_public_key_file or self.settings.keys_dir / "jwt-public.pem"
            try:
                self._public_key = path.read_bytes()
            except FileNotFoundError:
                raise Unauthorized(f"No verification key at {path}; start the hub with `gmp-hub up`.") from None
        return self._public_key

    def verify(self, token: str) -> Principal:
        now = time.time()
        known = self._verified.get(token)
        if known is not None and now < known[1]:
            self._verified.move_to_end(token)
            return known[0]
        self._verified.pop(token, None)
        principal, exp = self._decode(token)
        self._verified[token] = (principal, min(exp, now + self.RECHECK_SECONDS))
        if len(self._verified) > self.CACHED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        """The token's principal and expiry, once its signature and claims are checked."""
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=self.settings.jwt_algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "sub", "role"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"The token is not valid: {exc}.") from None
        try:
            role = Role(claims["role"])
        except ValueError:
            raise Unauthorized(f"Unknown role {claims['role']!r} in token.") from None
        auth_time = claims.get("auth_time")
        if auth_time is not None and (isinstance(auth_time, bool) or not isinstance(auth_time, int | float)):
            raise Unauthorized("The token's auth_time is not a time (seconds since the epoch).")
        principal = Principal(
            sub=str(claims["sub"]),
            role=role,
            org_id=claims.get("org_id"),
            facility_ids=frozenset(str(f) for f in claims.get("facility_ids") or ()),
            authority=claims.get("authority"),
            name=str(claims["name"]) if claims.get("name") else None,
            auth_time=int(auth_time) if auth_time is not None else None,
        )
        return principal, float(claims["exp"])


@lru_cache
def _verifier() -> TokenVerifier:
    return TokenVerifier(get_settings())


def principal_of(token: str) -> Principal:
    """The principal of a bearer token, verified once and then cached: the request guard
    (shared/guards.py) and the routes' dependency ask the same verifier."""
    return _verifier().verify(token)


_bearer = HTTPBearer(auto_error=False, description="`gmp-hub token --role ...` prints one for development.")


async def authenticate(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer token is required (Authorization: Bearer <token>).")
    principal = principal_of(credentials.credentials)
    acting_person.set((principal.actor, principal.display_name))  # the events this request causes name them
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


async def authenticate_signer(principal: CurrentPrincipal) -> Principal:
    """The caller of a signing route: authenticated at most `GMPHUB_SIGNATURE_MAX_AGE_SECONDS` ago,
    else 401 with RFC 9470's challenge, before anything is read or changed."""
    principal.require_recent_authentication(get_settings().signature_max_age_seconds)
    return principal


SigningPrincipal = Annotated[Principal, Depends(authenticate_signer)]


def require_roles(*roles: Role) -> Any:
    """Dependency: the caller must hold one of `roles` (admin always may)."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        principal.require_role(*roles)
        return principal

    return Depends(dependency)

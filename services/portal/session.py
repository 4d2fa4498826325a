"""Who is signed in, kept in the signed session cookie (HttpOnly, SameSite=Lax, Secure over
https), and the CSRF token every form and htmx request carries back."""

import hmac
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from shared.auth import Principal


class SignInRequired(Exception):
    """No one is signed in, or the sign-in has run out: the app sends the browser to the sign-in page."""


class CsrfRefused(Exception):
    """A form or htmx request came without the session's CSRF token."""


@dataclass(frozen=True)
class User:
    token: str
    role: str
    sub: str
    expires_at: int
    org_id: str | None = None
    facility_ids: list[str] = field(default_factory=list)
    authority: str | None = None
    label: str = ""

    @property
    def facility_id(self) -> str | None:
        """The facility a facility user's pages are about: the first their token lists."""
        return self.facility_ids[0] if self.facility_ids else None


def sign_in(request: Request, token: str, principal: Principal, expires_at: int, label: str) -> User:
    """A new session for the user (and a new CSRF token: nothing from before sign-in carries over)."""
    user = User(
        token=token,
        role=principal.role.value,
        sub=principal.sub,
        expires_at=expires_at,
        org_id=principal.org_id,
        facility_ids=sorted(principal.facility_ids),
        authority=principal.authority,
        label=label,
    )
    request.session.clear()
    request.session["user"] = asdict(user)
    request.session["csrf"] = secrets.token_urlsafe(32)
    return user


def sign_out(request: Request) -> None:
    request.session.clear()


def signed_in(request: Request) -> User | None:
    stored = request.session.get("user")
    if not stored:
        return None
    user = User(**stored)
    if user.expires_at <= time.time():
        request.session.pop("user", None)
        return None
    return user


def current_user(request: Request) -> User:
    user = signed_in(request)
    if user is None:
        raise SignInRequired()
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def csrf_token(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    return str(request.session["csrf"])


async def check_csrf(request: Request) -> None:
    """Every request that changes something carries the session's token: htmx in the X-CSRF-Token
    header, a plain form in its `csrf_token` field. A page of another site has neither."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf_token") or "")
    expected = request.session.get("csrf")
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise CsrfRefused()


class WrongRole(Exception):
    """A page of another role's: the user is told whose it is."""

    def __init__(self, role: str) -> None:
        super().__init__(role)
        self.role = role


def developer_of(user: CurrentUser) -> User:
    if user.role != "developer" or not user.org_id:
        raise WrongRole("developer")
    return user


def facility_user_of(user: CurrentUser) -> User:
    if user.role != "facility" or not user.facility_id:
        raise WrongRole("facility")
    return user


Developer = Annotated[User, Depends(developer_of)]
FacilityUser = Annotated[User, Depends(facility_user_of)]

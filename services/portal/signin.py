"""Signing in and out. Development: a page that signs in as any role of the seeded hub with the
development key (as `gmp-hub token` does), offered only while no JWKS URL is configured.
Production: OpenID Connect, authorization code with PKCE (S256), through Authlib."""

import time
import warnings
from typing import Annotated
from urllib.parse import urlencode

import jwt
from authlib.deprecate import AuthlibDeprecationWarning
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.hub import Api
from services.portal.session import check_csrf, sign_in, sign_out, signed_in
from services.portal.settings import PortalSettings
from services.portal.web import attempt, public_url, render
from shared.auth import Principal, Role, issue_token
from shared.problems import Problem

# Authlib 1.9 announces on import, through a filter of its own that always shows, a move to httpx2
# that the portal's starlette client does not need: silenced here, not for the rest of the process.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.base_client import MismatchingStateError, OAuthError
    from authlib.integrations.starlette_client import OAuth

router = APIRouter()
AUTHORITIES = ["DE-PEI", "NL-IGJ", "FR-ANSM", "EMA"]


def settings_of(request: Request) -> PortalSettings:
    settings: PortalSettings = request.app.state.settings
    return settings


def oauth_client(settings: PortalSettings, **client_kwargs: object) -> OAuth:
    """The OIDC provider from its discovery document; PKCE with S256 on every authorization request."""
    oauth = OAuth()
    oauth.register(
        "hub",
        client_id=settings.portal_oidc_client_id,
        client_secret=settings.portal_oidc_client_secret,
        server_metadata_url=f"{str(settings.portal_oidc_issuer).rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={"scope": settings.portal_oidc_scopes, "code_challenge_method": "S256", **client_kwargs},
    )
    return oauth


def _safe_next(target: str | None) -> str:
    """Only a path of this site: a sign-in never sends the browser elsewhere."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


def back_to_sign_in(message: str) -> Response:
    return RedirectResponse(f"/sign-in?{urlencode({'message': message})}", status_code=303)


async def _label(request: Request, token: str, principal: Principal) -> str:
    """How the header names the user: a facility user by their facility's name, if registry answers."""
    if principal.role is Role.FACILITY and principal.facility_ids:
        facility_id = sorted(principal.facility_ids)[0]
        found = await attempt(Api(request.app.state.hub, token).get("registry", f"/v1/facilities/{facility_id}"))
        return f"facility {found.value['legal_name'] if found.value else facility_id}"
    return f"{principal.role.value} {principal.org_id or principal.authority or ''}".strip()


async def _start_session(request: Request, token: str) -> Principal:
    principal: Principal = request.app.state.verifier.verify(token)
    expires_at = int(jwt.decode(token, options={"verify_signature": False}).get("exp", time.time() + 3600))
    sign_in(request, token, principal, expires_at, await _label(request, token, principal))
    return principal


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None, message: str | None = None) -> Response:
    settings = settings_of(request)
    facilities = None
    if settings.development_sign_in:
        admin = issue_token(settings, role=Role.ADMIN, sub="portal-sign-in", ttl_seconds=60)
        facilities = await attempt(Api(request.app.state.hub, admin).get("registry", "/v1/facilities", page_size=100))
    return render(
        request,
        "sign_in.html",
        development=settings.development_sign_in,
        oidc=settings.oidc,
        facilities=facilities,
        authorities=AUTHORITIES,
        next=_safe_next(next),
        message=message,
        signed_in_as=signed_in(request),
    )


@router.post("/sign-in/development", dependencies=[Depends(check_csrf)])
async def development_sign_in(
    request: Request,
    role: Annotated[Role, Form()],
    org_id: Annotated[str | None, Form()] = None,
    facility_id: Annotated[str | None, Form()] = None,
    authority: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    settings = settings_of(request)
    if not settings.development_sign_in:
        return render(
            request, "problem.html", status_code=404, title="Not here", detail="Development sign-in is turned off."
        )
    try:
        token = issue_token(
            settings,
            role=role,
            sub=f"portal-{role.value}",
            org_id=org_id if role is Role.DEVELOPER else None,
            facility_ids=[facility_id] if role is Role.FACILITY and facility_id else None,
            authority=authority if role is Role.REGULATOR else None,
            ttl_seconds=settings.portal_session_max_age_seconds,
        )
    except ValueError as exc:
        return back_to_sign_in(str(exc))
    await _start_session(request, token)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.get("/sign-in/oidc")
async def oidc_sign_in(request: Request, next: str | None = None) -> Response:
    settings = settings_of(request)
    if not settings.oidc:
        return RedirectResponse("/sign-in", status_code=303)
    request.session["next"] = _safe_next(next)
    client = request.app.state.oauth.create_client("hub")
    redirect: Response = await client.authorize_redirect(request, f"{public_url(request)}/sign-in/callback")
    return redirect


@router.get("/sign-in/fresh")
async def fresh_sign_in(request: Request, next: str | None = None) -> Response:
    """Authenticate again for a signature (the services want a sign-in at most
    GMPHUB_SIGNATURE_MAX_AGE_SECONDS old), then back to `next`. OpenID Connect: an authorization
    request with `max_age=0` and `prompt=login`, so the provider asks for the credentials again and
    its token's `auth_time` is now. Development: the signed-in user's token minted again, as now."""
    settings, target = settings_of(request), _safe_next(next)
    user = signed_in(request)
    if settings.oidc:
        request.session["next"] = target
        client = request.app.state.oauth.create_client("hub")
        callback = f"{public_url(request)}/sign-in/callback"
        redirect: Response = await client.authorize_redirect(request, callback, max_age=0, prompt="login")
        return redirect
    if user is None or not settings.development_sign_in:
        return RedirectResponse(f"/sign-in?{urlencode({'next': target})}", status_code=303)
    token = issue_token(
        settings, role=Role(user.role), sub=user.sub, org_id=user.org_id, facility_ids=user.facility_ids or None,
        authority=user.authority, ttl_seconds=settings.portal_session_max_age_seconds,
    )  # fmt: skip
    await _start_session(request, token)
    return RedirectResponse(target, status_code=303)


@router.get("/sign-in/callback")
async def oidc_callback(request: Request) -> Response:
    settings = settings_of(request)
    if not settings.oidc:
        return RedirectResponse("/sign-in", status_code=303)
    target = _safe_next(request.session.get("next"))
    try:
        tokens = await request.app.state.oauth.create_client("hub").authorize_access_token(request)
        await _start_session(request, tokens["access_token"])
    except (OAuthError, Problem, KeyError) as exc:  # refused by the provider, or a token the hub would refuse
        sign_out(request)
        reason = getattr(exc, "description", None) or getattr(exc, "detail", None) or str(exc)
        if isinstance(exc, MismatchingStateError):  # Authlib's words ("CSRF Warning!…") mean this to a user
            reason = "this sign-in was not started in this browser, or it has expired. Please sign in again."
        return back_to_sign_in(f"Sign-in failed: {reason}")
    return RedirectResponse(target, status_code=303)


@router.post("/sign-out", dependencies=[Depends(check_csrf)])
async def sign_out_now(request: Request) -> Response:
    """Ends the portal's session and, with OpenID Connect, the provider's too (RP-initiated logout),
    so the next sign-in asks for the password again."""
    sign_out(request)
    if settings_of(request).oidc:
        client = request.app.state.oauth.create_client("hub")
        ending = (await client.load_server_metadata()).get("end_session_endpoint")
        if ending:
            back = {"client_id": settings_of(request).portal_oidc_client_id,
                    "post_logout_redirect_uri": f"{public_url(request)}/sign-in"}  # fmt: skip
            return RedirectResponse(f"{ending}?{urlencode(back)}", status_code=303)
    return back_to_sign_in("You are signed out.")

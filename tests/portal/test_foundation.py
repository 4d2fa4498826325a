"""The portal's foundation without a browser: sign-in required, the session cookie's flags, CSRF
on every form, a service's refusal and a service's absence shown on the page, development sign-in
off in production, and OpenID Connect's redirect and callback (PKCE) against a stand-in provider."""

import base64
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from services.portal import signin
from services.portal.main import create_portal
from services.portal.settings import PortalSettings
from shared.auth import Role, issue_token
from shared.settings import SERVICES

VOCABULARIES = {"countries": [{"term": "DE", "label": "Germany"}], "atmp_types": [], "processes": [],
                "cleanroom_grades": [{"term": "B", "label": "Grade B"}]}  # fmt: skip


def problem(status: int, detail: str) -> httpx.Response:
    return httpx.Response(status, json={"title": "No", "status": status, "detail": detail},
                          headers={"content-type": "application/problem+json"})  # fmt: skip


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def answering(routes: dict[str, object]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        found = routes.get(request.url.path)
        if isinstance(found, httpx.Response):
            return found
        return httpx.Response(200, json=found) if found is not None else problem(404, "No such thing.")

    return httpx.MockTransport(handle)


@pytest.fixture
def make_portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., httpx.AsyncClient]:
    for name in [n for n in __import__("os").environ if n.startswith("GMPHUB_")]:
        monkeypatch.delenv(name)

    def make(services: dict[str, httpx.MockTransport] | None = None, **settings: object) -> httpx.AsyncClient:
        transports = {s: httpx.MockTransport(down) for s in SERVICES} | (services or {})
        app = create_portal(PortalSettings(data_dir=tmp_path, **settings), transports)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://portal")

    return make


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'"X-CSRF-Token": "([^"]+)"', page.text).group(1)


async def sign_in(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    csrf = csrf_of(await client.get("/sign-in"))
    return await client.post("/sign-in/development", data={"csrf_token": csrf, **fields})


async def test_pages_send_who_is_not_signed_in_to_the_sign_in_page(make_portal):
    async with make_portal() as client:
        answer = await client.get("/capacity")
        assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in?next=/capacity")
        answer = await client.get("/bookings", headers={"HX-Request": "true"})
        assert answer.headers["HX-Redirect"] == "/sign-in?next=/bookings", "htmx follows it with a full page"
        page = await client.get("/sign-in")
        assert page.status_code == 200 and "Sign in as developer" in page.text and "Sign in as facility" in page.text
        assert "Registry is not answering" in page.text, "the facility list is missing, the page is not"


async def test_the_session_cookie_is_http_only_same_site_lax_and_secure_over_https(make_portal):
    async with make_portal() as client:
        answer = await sign_in(client, role="developer", org_id="ORG-1")
        cookie = answer.headers["set-cookie"].lower()
        assert answer.status_code == 303 and "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie.replace("httponly", "")
    async with make_portal(portal_public_url="https://hub.example.org") as client:
        cookie = (await sign_in(client, role="developer", org_id="ORG-1")).headers["set-cookie"].lower()
        assert "; secure" in cookie


async def test_every_form_needs_the_sessions_csrf_token(make_portal):
    async with make_portal() as client:
        await client.get("/sign-in")
        refused = await client.post("/sign-in/development", data={"role": "admin", "csrf_token": "forged"})
        assert refused.status_code == 403 and "did not come from this site" in refused.text
        assert (await sign_in(client, role="developer", org_id="ORG-1")).status_code == 303
        for path in ("/sign-out", "/book", "/bookings/b-1/cancel", "/facility/capacity/publish"):
            assert (await client.post(path, data={"product": "x"})).status_code == 403, path
        assert (await client.get("/capacity")).status_code == 200, "still signed in"
        csrf = csrf_of(await client.get("/capacity"))
        out = await client.post("/sign-out", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 303 and (await client.get("/capacity")).status_code == 303


async def test_a_service_that_is_down_shows_as_such_and_the_rest_of_the_page_works(make_portal):
    registry = answering({"/v1/vocabularies": VOCABULARIES})
    async with make_portal({"registry": registry}) as client:
        await sign_in(client, role="developer", org_id="ORG-1")
        page = await client.get("/capacity")
        assert page.status_code == 200
        assert "Scheduling is not answering" in page.text
        assert '<option value="DE"' in page.text, "the filters, from registry, are there"
        ready = (await client.get("/readyz")).json()
        assert ready == {"status": "ready", "services": dict.fromkeys(SERVICES, False)}


async def test_a_refusal_shows_the_services_detail(make_portal):
    scheduling = answering({"/v1/slots": problem(403, "This action needs the role developer; the token has x.")})
    async with make_portal({"scheduling": scheduling}) as client:
        await sign_in(client, role="developer", org_id="ORG-1")
        page = await client.get("/capacity")
        assert "Scheduling refused:" in page.text and "This action needs the role developer" in page.text
        page = await client.get("/bookings/00000000-0000-0000-0000-000000000000")
        assert page.status_code == 404 and "No such thing." in page.text


async def test_pages_of_another_role_say_whose_they_are(make_portal):
    async with make_portal() as client:
        await sign_in(client, role="developer", org_id="ORG-1")
        page = await client.get("/facility/capacity")
        assert page.status_code == 403 and "This page is for facility users" in page.text


async def test_development_sign_in_is_off_when_a_jwks_url_is_set(make_portal):
    production = {"jwt_jwks_url": "https://id.example.org/certs", "portal_session_secret": "s" * 40}
    async with make_portal(**production) as client:
        page = await client.get("/sign-in")
        assert "Sign in as developer" not in page.text and "No way to sign in is configured" in page.text
        answer = await client.post("/sign-in/development", data={"role": "admin", "csrf_token": csrf_of(page)})
        assert answer.status_code == 404
    with pytest.raises(RuntimeError, match="GMPHUB_PORTAL_SESSION_SECRET"):
        make_portal(jwt_jwks_url="https://id.example.org/certs")


# --- OpenID Connect --------------------------------------------------------------------------------

ISSUER = "https://id.example.org/realms/gmphub"


class Provider:
    """A stand-in OIDC provider: its discovery document and a token endpoint checking PKCE."""

    def __init__(self, access_token: str) -> None:
        self.access_token = access_token
        self.challenge: str | None = None
        self.exchanged: dict[str, list[str]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={
                "issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/certs", "code_challenge_methods_supported": ["S256"],
                "end_session_endpoint": f"{ISSUER}/logout",
            })  # fmt: skip
        if request.url.path.endswith("/token"):
            self.exchanged = parse_qs(request.content.decode())
            verifier = self.exchanged["code_verifier"][0]
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != self.challenge:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "PKCE failed"})
            body = {"access_token": self.access_token, "token_type": "Bearer", "expires_in": 3600}
            return httpx.Response(200, json=body)
        return httpx.Response(404)


async def test_oidc_sign_in_sends_an_authorization_request_with_pkce_and_signs_in_on_the_callback(
    make_portal, tmp_path: Path
):
    client = make_portal(portal_oidc_issuer=ISSUER, portal_public_url="https://hub.example.org")
    app = client._transport.app  # type: ignore[attr-defined]
    settings = app.state.settings
    provider = Provider(issue_token(settings, role=Role.DEVELOPER, org_id="ORG-7", sub="alice"))
    app.state.oauth = signin.oauth_client(settings, transport=httpx.MockTransport(provider))
    async with client:
        page = await client.get("/sign-in")
        assert "Sign in with your organisation" in page.text
        answer = await client.get("/sign-in/oidc", params={"next": "/bookings"})
        assert answer.status_code == 302
        target = urlparse(answer.headers["location"])
        query = {k: v[0] for k, v in parse_qs(target.query).items()}
        assert f"{target.scheme}://{target.netloc}{target.path}" == f"{ISSUER}/auth"
        assert query["response_type"] == "code" and query["client_id"] == "gmp-hub-portal"
        assert query["redirect_uri"] == "https://hub.example.org/sign-in/callback"
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
        assert "openid" in query["scope"].split()
        provider.challenge = query["code_challenge"]

        forged = await client.get("/sign-in/callback", params={"code": "c-1", "state": "someone-elses"})
        assert forged.status_code == 303 and "Sign-in+failed" in forged.headers["location"]

        answer = await client.get("/sign-in/oidc", params={"next": "/bookings"})
        query = {k: v[0] for k, v in parse_qs(urlparse(answer.headers["location"]).query).items()}
        provider.challenge = query["code_challenge"]
        back = await client.get("/sign-in/callback", params={"code": "c-2", "state": query["state"]})
        assert (back.status_code, back.headers["location"]) == (303, "/bookings")
        assert provider.exchanged["code"] == ["c-2"] and provider.exchanged["grant_type"] == ["authorization_code"]
        session = json.loads(base64.b64decode(back.cookies["gmphub_portal"].split(".")[0] + "=="))
        assert session["user"]["org_id"] == "ORG-7" and session["user"]["role"] == "developer"

        csrf = session["csrf"]
        out = await client.post("/sign-out", headers={"X-CSRF-Token": csrf})
        ending = urlparse(out.headers["location"])
        assert (out.status_code, f"{ending.scheme}://{ending.netloc}{ending.path}") == (303, f"{ISSUER}/logout")
        assert parse_qs(ending.query) == {
            "client_id": ["gmp-hub-portal"], "post_logout_redirect_uri": ["https://hub.example.org/sign-in"]
        }  # fmt: skip
        assert (await client.get("/bookings")).status_code == 303, "signed out of the portal too"


async def test_an_oidc_callback_the_provider_refused_says_why(make_portal):
    client = make_portal(portal_oidc_issuer=ISSUER)
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.oauth = signin.oauth_client(app.state.settings, transport=httpx.MockTransport(Provider("unused")))
    async with client:
        answer = await client.get("/sign-in/oidc")
        state = parse_qs(urlparse(answer.headers["location"]).query)["state"][0]
        back = await client.get("/sign-in/callback", params={"error": "access_denied", "state": state})
        assert back.status_code == 303 and back.headers["location"].startswith("/sign-in?message=Sign-in+failed")

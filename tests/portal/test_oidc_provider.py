"""OpenID Connect sign-in against a provider over real HTTP (tests/portal/oidc_provider.py: Authlib's
authorization server behind deploy/keycloak's realm paths and mappers), with the portal configured
as in production: the provider's issuer, and its JWKS, issuer and the hub's audience for the tokens.
One httpx client plays the browser, keeping cookies for both sites; the portal runs in-process."""

import base64
import hashlib
import html
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from services.portal.main import create_portal
from services.portal.settings import PortalSettings
from shared.settings import SERVICES
from tests.portal.oidc_provider import Provider, User

PORTAL = "http://portal.test"
ALICE = User("alice", {"role": "developer", "org_id": "ORG-7"})
VISITOR = User("visitor", {})  # in the realm, but given no role in the hub


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@dataclass
class SigningIn:
    provider: Provider
    browser: httpx.AsyncClient

    async def start(self, next: str = "/") -> dict[str, str]:
        """The portal's redirect to the provider: the authorization request's parameters."""
        answer = await self.browser.get(f"{PORTAL}/sign-in/oidc", params={"next": next})
        assert answer.status_code == 302, answer.text
        target = urlparse(answer.headers["location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == self.provider.endpoint("auth")
        return {k: v[0] for k, v in parse_qs(target.query).items()} | {"url": answer.headers["location"]}

    async def at_provider(self, authorization: dict[str, str], **fields: str) -> httpx.Response:
        """The provider's sign-in page, then its form posted as a browser would."""
        page = await self.browser.get(authorization["url"])
        assert page.status_code == 200 and "Sign in to GMP coordination hub" in page.text
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        return await self.browser.post(action, data=fields)

    def session(self) -> dict:
        cookie = self.browser.cookies.get("gmphub_portal", domain="portal.test")
        return json.loads(base64.b64decode(cookie.split(".")[0] + "==")) if cookie else {}


@pytest.fixture
async def signing_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SigningIn]:
    for name in [n for n in __import__("os").environ if n.startswith("GMPHUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the provider answers on http://127.0.0.1
    provider = Provider([f"{PORTAL}/sign-in/callback"], [ALICE, VISITOR])
    with provider.serving():
        settings = PortalSettings(
            data_dir=tmp_path,
            portal_public_url=PORTAL,
            portal_session_secret="s" * 40,
            portal_oidc_issuer=f"{provider.issuer}/",  # as people paste it: the trailing slash is harmless
            jwt_jwks_url=provider.endpoint("certs"),
            jwt_issuer=provider.issuer,
            jwt_audience="gmp-hub",
        )
        app = create_portal(settings, {s: httpx.MockTransport(down) for s in SERVICES})
        # The browser: the portal in-process, the provider over the network, one cookie jar.
        async with httpx.AsyncClient(mounts={PORTAL: httpx.ASGITransport(app=app)}, timeout=10) as browser:
            yield SigningIn(provider, browser)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def test_a_developer_signs_in_at_the_provider_with_pkce_and_the_portal_knows_their_role(signing_in):
    browser, provider = signing_in.browser, signing_in.provider
    page = await browser.get(f"{PORTAL}/sign-in")
    assert "Sign in with your organisation" in page.text and "Sign in as developer" not in page.text

    authorization = await signing_in.start(next="/bookings")
    assert authorization["response_type"] == "code" and authorization["client_id"] == "gmp-hub-portal"
    assert authorization["redirect_uri"] == f"{PORTAL}/sign-in/callback"
    assert authorization["code_challenge_method"] == "S256" and len(authorization["code_challenge"]) == 43
    assert "openid" in authorization["scope"].split() and authorization["nonce"] and authorization["state"]

    wrong = await signing_in.at_provider(authorization, username="nobody", action="sign-in")
    assert wrong.status_code == 401 and "Invalid username or password." in wrong.text
    back = await signing_in.at_provider(authorization, username="alice", action="sign-in")
    assert back.status_code == 302 and back.headers["location"].startswith(f"{PORTAL}/sign-in/callback?code=")
    assert parse_qs(urlparse(back.headers["location"]).query)["state"] == [authorization["state"]]

    answer = await browser.get(back.headers["location"])
    assert (answer.status_code, answer.headers["location"]) == (303, "/bookings"), answer.headers["location"]
    [exchange] = provider.token_requests
    assert exchange["grant_type"] == "authorization_code" and exchange["client_id"] == "gmp-hub-portal"
    assert s256(exchange["code_verifier"]) == authorization["code_challenge"], "the verifier of this request"
    assert "client_secret" not in exchange, "a public client: PKCE, no secret"
    assert provider.codes == {}, "the code is spent"

    user = signing_in.session()["user"]
    assert (user["sub"], user["role"], user["org_id"]) == (ALICE.sub, "developer", "ORG-7")
    claims = json.loads(base64.urlsafe_b64decode(user["token"].split(".")[1] + "=="))
    assert claims["iss"] == provider.issuer and "gmp-hub" in claims["aud"], "the provider's, to call the services"
    page = await browser.get(f"{PORTAL}/bookings")
    assert page.status_code == 200 and "Signed in as developer ORG-7" in page.text

    csrf = signing_in.session()["csrf"]
    out = await browser.post(f"{PORTAL}/sign-out", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 303 and out.headers["location"].startswith(f"{provider.endpoint('logout')}?")
    ended = await browser.get(out.headers["location"])
    assert (ended.status_code, ended.headers["location"]) == (302, f"{PORTAL}/sign-in"), "back from the provider"
    assert (await browser.get(f"{PORTAL}/bookings")).headers["location"] == "/sign-in?next=/bookings"


async def sign_in_page_says(browser: httpx.AsyncClient, answer: httpx.Response) -> str:
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in?message="), answer.headers
    page = await browser.get(f"{PORTAL}{answer.headers['location']}")
    return html.unescape(re.search(r'<p class="notice" role="status">([^<]+)</p>', page.text).group(1))


async def test_a_callback_with_a_state_the_portal_did_not_send_is_refused_before_the_code_is_spent(signing_in):
    authorization = await signing_in.start()
    back = await signing_in.at_provider(authorization, username="alice", action="sign-in")
    tampered = back.headers["location"].replace(f"state={authorization['state']}", "state=forged-by-someone")
    message = await sign_in_page_says(signing_in.browser, await signing_in.browser.get(tampered))
    assert message == (
        "Sign-in failed: this sign-in was not started in this browser, or it has expired. Please sign in again."
    )
    assert signing_in.provider.token_requests == [] and "user" not in signing_in.session()


async def test_a_code_redeemed_with_another_requests_verifier_is_refused_by_the_provider(signing_in):
    """A code injected into another sign-in of the same browser: its state is genuine, but the
    verifier the portal sends is that sign-in's, which the provider's PKCE check refuses."""
    first = await signing_in.start()
    second = await signing_in.start()
    back = await signing_in.at_provider(first, username="alice", action="sign-in")
    injected = back.headers["location"].replace(f"state={first['state']}", f"state={second['state']}")
    message = await sign_in_page_says(signing_in.browser, await signing_in.browser.get(injected))
    assert message == "Sign-in failed: Code challenge failed."
    [exchange] = signing_in.provider.token_requests
    assert s256(exchange["code_verifier"]) == second["code_challenge"] != first["code_challenge"]
    assert "user" not in signing_in.session()


async def test_a_user_who_cancels_at_the_provider_is_told_so(signing_in):
    authorization = await signing_in.start()
    back = await signing_in.at_provider(authorization, action="deny")
    assert parse_qs(urlparse(back.headers["location"]).query)["error"] == ["access_denied"]
    message = await sign_in_page_says(signing_in.browser, await signing_in.browser.get(back.headers["location"]))
    assert message.startswith("Sign-in failed: ") and "denied" in message
    assert signing_in.provider.token_requests == [] and "user" not in signing_in.session()


async def test_a_provider_account_without_a_hub_role_is_not_signed_in(signing_in):
    authorization = await signing_in.start()
    back = await signing_in.at_provider(authorization, username="visitor", action="sign-in")
    message = await sign_in_page_says(signing_in.browser, await signing_in.browser.get(back.headers["location"]))
    assert message == 'Sign-in failed: The token is not valid: Token is missing the "role" claim.'
    assert len(signing_in.provider.token_requests) == 1 and "user" not in signing_in.session()


async def test_signing_in_again_for_a_signature_makes_the_provider_ask_afresh_and_comes_back(signing_in):
    """A signature refused for a stale sign-in links to /sign-in/fresh: an authorization request with
    `max_age=0` and `prompt=login`, after which the session's token says the user signed in now."""
    first = await signing_in.start()
    back = await signing_in.at_provider(first, username="alice", action="sign-in")
    await signing_in.browser.get(back.headers["location"])
    earlier = signing_in.session()["user"]["token"]

    answer = await signing_in.browser.get(f"{PORTAL}/sign-in/fresh", params={"next": "/review/some-approval"})
    assert answer.status_code == 302, answer.text
    again = {k: v[0] for k, v in parse_qs(urlparse(answer.headers["location"]).query).items()}
    assert (again["max_age"], again["prompt"]) == ("0", "login")
    assert again["code_challenge_method"] == "S256" and again["state"] != first["state"]
    back = await signing_in.at_provider(again | {"url": answer.headers["location"]}, username="alice", action="sign-in")
    answer = await signing_in.browser.get(back.headers["location"])
    assert (answer.status_code, answer.headers["location"]) == (303, "/review/some-approval")

    def auth_time(token: str) -> int:
        return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["auth_time"]

    # a second code redeemed for a second token (the same second may mint the same bytes)
    assert auth_time(signing_in.session()["user"]["token"]) >= auth_time(earlier)
    assert len(signing_in.provider.token_requests) == 2

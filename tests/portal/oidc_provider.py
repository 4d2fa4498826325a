"""An OpenID provider shaped like deploy/keycloak's realm, for the portal's sign-in tests: Authlib's
authorization server (authorization code; PKCE required of the public client; ID tokens with the
nonce) behind the realm's paths (`/realms/gmphub/protocol/openid-connect/…`), served by uvicorn
over real HTTP on a free port in a thread of its own (the services' JWKS client reads it with
blocking calls from the portal's event loop). Its sign-in page takes a username from its user
directory, whose attributes (role, org_id, facility_ids, authority) go into the access token
under the same names, with audience `gmp-hub`, as the realm's mappers put them."""

import html
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationCodeGrant, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from devtools.stack import free_port

REALM = "/realms/gmphub"
PROTOCOL = f"{REALM}/protocol/openid-connect"
HUB_ATTRIBUTES = ("role", "org_id", "facility_ids", "authority")


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    """A public client (no secret: PKCE), as the realm's `gmp-hub-portal`."""

    client_id: str
    redirect_uris: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in ("openid", "profile", "email"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass(frozen=True)
class User:
    username: str
    attributes: dict[str, Any]
    sub: str = field(default_factory=lambda: str(uuid.uuid4()))  # Keycloak's subjects are ids


@dataclass(frozen=True)
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: User
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """Authlib's request from a Starlette request whose form is read already (Authlib is synchronous)."""

    def __init__(self, request: Request, form: dict[str, str]) -> None:
        super().__init__(request.method, str(request.url), headers=dict(request.headers))
        self._query, self._form = dict(request.query_params), form
        self.payload = BasicOAuth2Payload({**self._query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Provider(AuthorizationServer):  # type: ignore[misc]
    """The realm: its client, its users, the codes it issued and every token request it answered."""

    def __init__(self, redirect_uris: list[str], users: list[User], access_token_seconds: int = 900) -> None:
        super().__init__(scopes_supported=["openid", "profile", "email"])
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}{REALM}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "realm-key", "use": "sig", "alg": "RS256"})
        self.client = Client("gmp-hub-portal", tuple(redirect_uris))
        self.users = {u.username: u for u in users}
        self.codes: dict[str, Code] = {}
        self.token_requests: list[dict[str, str]] = []
        self.access_token_seconds = access_token_seconds
        self.register_token_generator("default", self._tokens)
        self.register_grant(PortalCodeGrant, [CodeChallenge(required=True), RealmOpenIDCode(self)])

    def endpoint(self, name: str) -> str:
        return f"{self.issuer}/protocol/openid-connect/{name}"

    # --- Authlib's hooks ------------------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Nothing to keep: the access token is a signed JWT the services verify with the JWKS."""

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body or "", status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def _tokens(self, grant_type: str, client: Client, user: User, scope: str, **_: Any) -> dict[str, Any]:
        """An access token as the realm's mappers make it: the hub's audience, the user's attributes
        and when they authenticated (`auth_time`: the code is redeemed right after)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": ["gmp-hub", "account"], "sub": user.sub, "azp": client.client_id,
            "typ": "Bearer", "iat": now, "exp": now + self.access_token_seconds, "scope": scope,
            "preferred_username": user.username, "auth_time": now,
        } | {name: user.attributes[name] for name in HUB_ATTRIBUTES if name in user.attributes}  # fmt: skip
        access_token = jwt.encode({"alg": "RS256", "kid": "realm-key", "typ": "JWT"}, claims, self.key)
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": self.access_token_seconds,
                "scope": scope}  # fmt: skip

    # --- the endpoints ----------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("auth"),
            "token_endpoint": self.endpoint("token"),
            "jwks_uri": self.endpoint("certs"),
            "end_session_endpoint": self.endpoint("logout"),
            "response_types_supported": ["code"], "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"], "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile", "email"],
        })  # fmt: skip

    async def certs(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        """GET shows the sign-in page; POST signs in the user named (or denies: `action=deny`)."""
        form = {k: str(v) for k, v in (await request.form()).items()}
        oauth_request = StarletteOAuth2Request(request, form)
        try:
            grant = self.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            if error.redirect_uri:  # the client's own, checked address: the error goes back there
                return self.handle_error_response(oauth_request, error)  # type: ignore[no-any-return]
            # no address of the client's to trust: the browser stays here, as with Keycloak
            return HTMLResponse(f"<h1>Sign-in refused</h1><p>{html.escape(error.description or error.error)}</p>", 400)
        if request.method == "GET":
            return self._sign_in_page(request)
        if form.get("action") == "deny":
            return self.create_authorization_response(oauth_request, grant_user=None, grant=grant)  # type: ignore[no-any-return]
        user = self.users.get(form.get("username", ""))
        if user is None:
            return self._sign_in_page(request, "Invalid username or password.")
        return self.create_authorization_response(oauth_request, grant_user=user, grant=grant)  # type: ignore[no-any-return]

    def _sign_in_page(self, request: Request, error: str | None = None) -> Response:
        action = html.escape(str(request.url))
        shown = f'<p role="alert">{html.escape(error)}</p>' if error else ""
        return HTMLResponse(
            f'<h1>Sign in to GMP coordination hub</h1>{shown}<form method="post" action="{action}">'
            '<label>Username <input name="username"></label><button name="action" value="sign-in">Sign in</button>'
            '<button name="action" value="deny">Cancel</button></form>',
            status_code=200 if error is None else 401,
        )

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        return self.create_token_response(StarletteOAuth2Request(request, form))  # type: ignore[no-any-return]

    async def logout(self, request: Request) -> Response:
        """RP-initiated logout: back to the client's address when it is one of the client's."""
        back = request.query_params.get("post_logout_redirect_uri", "")
        if request.query_params.get("client_id") == self.client.client_id and back.startswith(
            tuple(uri.removesuffix("/sign-in/callback") for uri in self.client.redirect_uris)
        ):
            return RedirectResponse(back, status_code=302)
        return HTMLResponse("<h1>You are signed out</h1>")

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route(f"{REALM}/.well-known/openid-configuration", self.discovery),
            Route(f"{PROTOCOL}/certs", self.certs),
            Route(f"{PROTOCOL}/auth", self.authorize, methods=["GET", "POST"]),
            Route(f"{PROTOCOL}/token", self.token, methods=["POST"]),
            Route(f"{PROTOCOL}/logout", self.logout),
        ])  # fmt: skip

    @contextmanager
    def serving(self) -> Iterator["Provider"]:
        """Serves on 127.0.0.1 in a thread (and event loop) of its own until the block ends."""
        server = uvicorn.Server(uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="oidc-provider", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the OIDC provider did not start")
            time.sleep(0.02)
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(timeout=5)


class PortalCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    """The realm's code grant: a public client authenticates with its client_id only (method `none`)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.codes[code] = Code(
            code=code, client_id=request.client.client_id, redirect_uri=request.payload.redirect_uri,
            scope=request.scope, user=request.user, nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"),
            auth_time=int(time.time()),
        )  # fmt: skip

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found: Code | None = self.server.codes.get(code)
        return found if found and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> User:
        return authorization_code.user


class RealmOpenIDCode(OpenIDCode):  # type: ignore[misc]
    """ID tokens signed with the realm's key, for the client, with the nonce of the request."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return any(code.nonce == nonce for code in self.provider.codes.values())

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.provider.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": "realm-key", "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self.provider.issuer, "aud": [client.client_id], "exp": int(time.time()) + 300}

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        return {"sub": user.sub, "preferred_username": user.username}

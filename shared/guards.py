"""The guard in front of every service's routes, before anything is parsed: bodies limited in size
(declared `Content-Length` refused up front, streamed bodies counted), the caller authenticated
before a body is read, rate limits per principal and per client address (the `limits` library),
the operations pages kept to the internal networks, and the security headers of every answer."""

import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import auth
from shared.errors import problem_response
from shared.problems import Unauthorized
from shared.ratelimit import SlidingWindowCounter
from shared.settings import Settings

log = logging.getLogger(__name__)

# What only the operator's own network sees when `GMPHUB_INTERNAL_NETWORKS` is set.
OPERATIONS_PATHS = frozenset({"/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
FORWARDED = (b"x-forwarded-for", b"forwarded")  # a request through the ingress came from outside
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Route-specific rate limits a service declares: (method, path) -> the limit, read from its settings.
RouteLimits = Callable[[Settings], dict[tuple[str, str], str]]


class BodyTooLarge(HTTPException):
    """A streamed body grew past its limit: raised from `receive`, answered 413 by the problem
    handlers (FastAPI lets an HTTPException out of its body parsing unchanged)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes; nothing was read past that.")


@dataclass(frozen=True)
class RateLimits:
    limiter: SlidingWindowCounter
    per_principal: RateLimitItem
    per_address: RateLimitItem
    failed_authentication: RateLimitItem
    routes: dict[tuple[str, str], RateLimitItem]


@lru_cache(maxsize=8)
def _networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in spec.split(",") if n.strip())


def _internal(address: str, spec: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(spec))


class RequestGuard:
    """Pure ASGI, so that nothing reads a body before the guard has looked at the request.
    `body_limits` maps a path to its own larger limit (materials' CSV import); `route_limits` gives
    stricter rate limits for some routes (scheduling's `POST /v1/bookings`)."""

    def __init__(self, app: ASGIApp, body_limits: dict[str, int], route_limits: RouteLimits) -> None:
        self.app = app
        self.body_limits = body_limits
        self.route_limits = route_limits
        self._limits: tuple[Settings, RateLimits] | None = None

    def _rate_limits(self, settings: Settings) -> RateLimits:
        """Built once per settings (a test may swap a running service's settings)."""
        if self._limits is None or self._limits[0] is not settings:
            limits = RateLimits(
                SlidingWindowCounter(),  # per replica: the ingress holds hub-wide limits
                parse(settings.rate_limit_per_principal),
                parse(settings.rate_limit_per_address),
                parse(settings.rate_limit_failed_authentication),
                {route: parse(limit) for route, limit in self.route_limits(settings).items()},
            )
            self._limits = (settings, limits)
        return self._limits[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.context.settings  # the service's, set when it started
        headers = dict(scope["headers"])
        address = (scope.get("client") or ("unknown", 0))[0]
        path, method = scope["path"], scope["method"]
        https = scope.get("scheme") == "https" or headers.get(b"x-forwarded-proto") == b"https"
        authorization = headers.get(b"authorization")
        secured = _answer_headers(https, authorization is not None)
        limits = self._rate_limits(settings) if settings.rate_limit_enabled else None
        principal: auth.Principal | None = None
        refusal: str | None = None  # why the token the request presented was refused
        failed = started = False

        async def guarded_send(message: Message) -> None:
            nonlocal failed, started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                message.setdefault("headers", []).extend(h for h in secured if h[0] not in present)
                failed = message["status"] == 401 and refusal is not None  # a token refused, not a step-up
            await send(message)

        async def answer(status: int, detail: str, headers: dict[str, str] | None = None) -> None:
            # Answered without reading the body: a client that sent `Expect: 100-continue` (curl does
            # for large bodies) never sends it; uvicorn discards what another sends, unparsed.
            await problem_response(status, detail, headers=headers)(scope, receive, guarded_send)

        if (
            settings.internal_networks
            and path in OPERATIONS_PATHS
            and (not _internal(address, settings.internal_networks) or any(h in headers for h in FORWARDED))
        ):
            await answer(404, "Not Found")
            return

        limit = self.body_limits.get(path, settings.max_body_bytes)
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            await answer(400, "The Content-Length header is not a number.")
            return
        if declared > limit:
            await answer(413, f"The request body ({declared} bytes) is larger than {limit} bytes.")
            return

        if authorization is not None:
            scheme, _, token = authorization.decode("latin-1").partition(" ")
            try:
                if scheme.lower() != "bearer":
                    raise Unauthorized("A bearer token is required (Authorization: Bearer <token>).")
                principal = auth.principal_of(token.strip())
            except Unauthorized as exc:
                refusal = exc.detail

        if limits is not None:
            # Failed authentications are counted per address, and past the limit a token from there is not
            # even looked at: guessing is slowed, requests without a token (the portal's public pages) not.
            if refusal is not None and not limits.limiter.test(limits.failed_authentication, "failed", address):
                detail = f"Too many failed authentications from {address}; wait before trying again."
                await answer(429, detail, _retry(limits, limits.failed_authentication, ("failed", address)))
                return
            key = principal.actor if principal is not None else address
            for item, identifiers in _counted(limits, principal, address, method, path):
                if not limits.limiter.hit(item, *identifiers):
                    await answer(429, f"Too many requests from {key}; slow down.", _retry(limits, item, identifiers))
                    return

        carries_body = declared > 0 or b"transfer-encoding" in headers
        if principal is None and carries_body and method in BODY_METHODS:
            # Every route that takes a body needs a token (tests/integration/shared/test_guards.py):
            # refuse now rather than after reading and parsing the body.
            if limits is not None and refusal is not None:
                limits.limiter.hit(limits.failed_authentication, "failed", address)
            detail = refusal or "A bearer token is required (Authorization: Bearer <token>)."
            await answer(401, detail, {"WWW-Authenticate": "Bearer"})
            return

        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge as exc:  # read outside a route's body parsing: answered here
            if started:
                raise
            await answer(413, str(exc.detail))
        finally:
            if failed and limits is not None:
                limits.limiter.hit(limits.failed_authentication, "failed", address)


def _counted(
    limits: RateLimits, principal: auth.Principal | None, address: str, method: str, path: str
) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
    """Who a request is counted against, and under which limits: an authenticated caller as
    itself (the portal calls with each user's token, so its users are not one address), anyone
    else by client address."""
    if principal is None:
        return [(limits.per_address, ("address", address))]
    items: list[tuple[RateLimitItem, tuple[str, ...]]] = [(limits.per_principal, ("principal", principal.actor))]
    if route := limits.routes.get((method, path)):
        items.append((route, ("route", method, path, principal.actor)))
    return items


def _retry(limits: RateLimits, item: RateLimitItem, identifiers: tuple[str, ...]) -> dict[str, str]:
    """`Retry-After` and the IETF draft's `RateLimit-*` fields (draft-ietf-httpapi-ratelimit-headers)."""
    stats = limits.limiter.get_window_stats(item, *identifiers)
    reset = max(1, math.ceil(stats.reset_time - time.time()))
    return {
        "Retry-After": str(reset),
        "RateLimit-Limit": str(item.amount),
        "RateLimit-Remaining": str(stats.remaining),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": f"{item.amount};w={item.get_expiry()}",
    }


def _answer_headers(https: bool, authenticated: bool) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-content-type-options", b"nosniff")]
    if authenticated:  # what a token let the caller read stays out of every cache
        headers.append((b"cache-control", b"no-store"))
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers

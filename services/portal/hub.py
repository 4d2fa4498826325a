"""The four services' public APIs as the portal calls them: over HTTP, with the signed-in user's
bearer token. A refusal becomes a `ServiceProblem` carrying the service's problem+json `detail`;
a service that does not answer becomes `ServiceDown`, so a page can say so and show the rest."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx

from services.portal.settings import PortalSettings
from shared.errors import problem_detail
from shared.settings import SERVICES


class ServiceProblem(Exception):
    """A service answered with an error; `detail` is the sentence it gave (RFC 9457). `step_up`:
    the sign-in is too old for a signature, the user must sign in again (RFC 9470's challenge)."""

    def __init__(self, service: str, status: int | None, detail: str, *, step_up: bool = False) -> None:
        super().__init__(detail)
        self.service, self.status, self.detail, self.step_up = service, status, detail, step_up


class ServiceDown(ServiceProblem):
    def __init__(self, service: str) -> None:
        super().__init__(service, None, f"The {service} service is not answering right now; try again in a moment.")


class Hub:
    """One HTTP client per service, shared by every request (connection pools); `transports` lets the
    tests put a service's in-process app or a dead address behind a name."""

    def __init__(self, settings: PortalSettings, transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> None:
        transports = transports or {}
        self.clients = {
            s: httpx.AsyncClient(
                base_url=settings.api_url(s),
                timeout=settings.portal_service_timeout_seconds,
                transport=transports.get(s),
            )
            for s in SERVICES
        }

    async def request(self, service: str, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", None) or {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self.clients[service].request(method, path, headers=headers, **kwargs)
        except (httpx.TransportError, OSError):
            raise ServiceDown(service) from None
        if response.status_code >= 400:
            step_up = "insufficient_user_authentication" in response.headers.get("www-authenticate", "")
            raise ServiceProblem(service, response.status_code, problem_detail(response), step_up=step_up)
        return response

    @asynccontextmanager
    async def stream(
        self, service: str, path: str, token: str | None, read_timeout: float, **kwargs: Any
    ) -> AsyncIterator[httpx.Response]:
        """A GET answered over time (server-sent events), read as it arrives: refused or unanswered as
        for `request`, and a connection that breaks or falls silent for `read_timeout` is `ServiceDown`."""
        headers = kwargs.pop("headers", None) or {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        client = self.clients[service]
        timeout = httpx.Timeout(client.timeout.connect, read=read_timeout)
        try:
            async with client.stream("GET", path, headers=headers, timeout=timeout, **kwargs) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise ServiceProblem(service, response.status_code, problem_detail(response))
                yield response
        except (httpx.TransportError, OSError):
            raise ServiceDown(service) from None

    async def ready(self, service: str) -> bool:
        try:
            return (await self.clients[service].get("/readyz", timeout=2.0)).status_code == 200
        except (httpx.TransportError, OSError):
            return False

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


class Api:
    """The hub as one signed-in user sees it: every call carries their token."""

    def __init__(self, hub: Hub, token: str | None) -> None:
        self.hub, self.token = hub, token

    async def get(self, service: str, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v not in (None, "", [])}
        return (await self.hub.request(service, "GET", path, self.token, params=query)).json()

    async def text(self, service: str, path: str, **params: Any) -> httpx.Response:
        return await self.hub.request(service, "GET", path, self.token, params=params)

    def stream(
        self, service: str, path: str, read_timeout: float, headers: dict[str, str] | None = None, **params: Any
    ) -> AbstractAsyncContextManager[httpx.Response]:
        return self.hub.stream(service, path, self.token, read_timeout, headers=headers, params=params)

    async def post(self, service: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return await self.send("POST", service, path, body, headers)

    async def patch(self, service: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return await self.send("PATCH", service, path, body, headers)

    async def send(self, method: str, service: str, path: str, body: Any, headers: dict[str, str] | None) -> Any:
        response = await self.hub.request(service, method, path, self.token, json=body, headers=headers)
        return response.json() if response.content else None

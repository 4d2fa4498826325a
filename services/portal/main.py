"""The portal's one bootstrap: a FastAPI app with no database and no broker, rendering pages
from the four services' public APIs. `create_portal` is a factory (uvicorn --factory): settings
are read when it starts, and tests hand it their own settings and transports."""

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from services.portal import (
    pages_approvals,
    pages_catalogue,
    pages_certificates,
    pages_developer,
    pages_directory,
    pages_facility,
    pages_live,
    pages_materials,
    pages_onboarding,
    pages_operator,
    pages_profile,
    pages_regulator,
    pages_subscriptions,
    pages_waitlist,
    signin,
)
from services.portal.hub import Hub, ServiceProblem
from services.portal.session import CsrfRefused, SignInRequired, WrongRole
from services.portal.settings import PortalSettings
from services.portal.web import is_htmx, render
from shared.auth import TokenVerifier, ensure_dev_keys
from shared.settings import SERVICES

STATIC = Path(__file__).parent / "static"


def session_secret(settings: PortalSettings) -> str:
    """The configured secret; in development one generated once and kept beside the development keys."""
    if settings.portal_session_secret:
        return settings.portal_session_secret
    if not settings.development_sign_in:
        raise RuntimeError("GMPHUB_PORTAL_SESSION_SECRET is required when GMPHUB_JWT_JWKS_URL is set.")
    ensure_dev_keys(settings.keys_dir)
    path = settings.keys_dir / "portal-session.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def create_portal(
    settings: PortalSettings | None = None, transports: dict[str, httpx.AsyncBaseTransport] | None = None
) -> FastAPI:
    settings = settings or PortalSettings()
    hub = Hub(settings, transports)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await hub.aclose()

    app = FastAPI(title="GMP hub portal", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings, app.state.hub = settings, hub
    app.state.verifier = TokenVerifier(settings)  # one, so the JWKS and verified tokens are kept
    if settings.oidc:
        app.state.oauth = signin.oauth_client(settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie="gmphub_portal",
        max_age=settings.portal_session_max_age_seconds,
        same_site="lax",
        https_only=(settings.portal_public_url or "").startswith("https://"),
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(signin.router)
    app.include_router(pages_developer.router)
    app.include_router(pages_facility.router)
    app.include_router(pages_materials.router)
    app.include_router(pages_profile.router)
    app.include_router(pages_waitlist.router)
    app.include_router(pages_approvals.router)
    app.include_router(pages_regulator.router)
    app.include_router(pages_certificates.router)
    app.include_router(pages_subscriptions.router)
    app.include_router(pages_operator.router)
    app.include_router(pages_onboarding.router)
    app.include_router(pages_catalogue.router)
    app.include_router(pages_live.router)
    app.include_router(pages_directory.router)
    _install_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, object]:
        """Ready whatever the services do (a page shows a missing one); says which answer."""
        answering = {service: await hub.ready(service) for service in SERVICES}
        return {"status": "ready", "services": answering}

    return app


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = f"/sign-in?next={quote(request.url.path)}"
        if is_htmx(request):
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(WrongRole)
    async def _wrong_role(request: Request, exc: WrongRole) -> Response:
        detail = f"This page is for {exc.role} users. Sign in as one to use it."
        return render(request, "problem.html", status_code=403, title="Not your page", detail=detail)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        detail = "The form had expired or did not come from this site. Reload the page and try again."
        return render(request, "problem.html", status_code=403, title="Please try again", detail=detail)

    @app.exception_handler(ServiceProblem)
    async def _service(request: Request, exc: ServiceProblem) -> Response:
        status = 502 if exc.status is None else exc.status
        return render(
            request, "problem.html", status_code=status, title=f"The {exc.service} service said no", problem=exc
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/static/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        title = "Not found" if exc.status_code == 404 else "Something went wrong"
        return render(request, "problem.html", status_code=exc.status_code, title=title, detail=str(exc.detail))

"""The portal served by uvicorn on a free port, in the test session's event loop, calling the
in-process services of tests/conftest.py (real PostgreSQL and broker) over their public APIs;
Debian's Chromium driven by Playwright; a fresh, seeded hub for each journey."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from devtools.stack import free_port
from services.portal.main import create_portal
from services.portal.settings import PortalSettings
from shared.settings import Settings
from tests.portal.browser import CHROMIUM, VIEWPORT, chromium_present
from tests.portal.seeding import Seeded, seed
from tests.support import RunningService, Tokens

NO_CHROMIUM = "the browser tests need Chromium: apt-get install chromium (CI's .ci/run installs it)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if chromium_present():
        return
    for item in items:
        if "browser_page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=NO_CHROMIUM))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not chromium_present() and any(
        "tests/portal" in str(getattr(r, "nodeid", "")) for r in terminalreporter.stats.get("skipped", [])
    ):
        terminalreporter.write_line(f"portal browser tests skipped: {NO_CHROMIUM}", yellow=True)


@pytest.fixture(scope="session")
def portal_app(settings: Settings, hub: dict[str, RunningService]) -> FastAPI:
    """The portal's app, calling the in-process services (a test may put a dead one in its hub)."""
    transports = {name: httpx.ASGITransport(app=service.app) for name, service in hub.items()}
    return create_portal(PortalSettings(**settings.model_dump()), transports)


@pytest.fixture(scope="session")
async def portal(portal_app: FastAPI) -> AsyncIterator[str]:
    """The portal's base URL."""
    app = portal_app
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


@pytest.fixture
async def browser_page(browser, portal: str) -> AsyncIterator:
    context = await browser.new_context(viewport=VIEWPORT, base_url=portal, color_scheme="light", timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = await context.new_page()
    yield page
    await context.close()


@pytest.fixture
async def seeded(clean_hub: dict[str, RunningService], tokens: Tokens) -> Seeded:
    return await seed(clean_hub, tokens)

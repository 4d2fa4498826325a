"""Journey 6 of the regulators: live events from approvals' SSE stream, through the portal, filtered
by type, each shown exactly once after the connection drops and comes back. The portal streams
from approvals over a real socket here (ASGITransport gives a response only once it has ended)."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Page, expect

from devtools.stack import free_port
from services.portal.main import create_portal
from services.portal.settings import PortalSettings
from shared.settings import Settings
from tests.portal.browser import VIEWPORT, check_accessibility, checked
from tests.portal.journeys import sign_in_as_regulator
from tests.portal.seeding import created
from tests.portal.test_regulator import filed
from tests.support import RunningService, Tokens


class Socket:
    """An app behind a uvicorn socket that a test can close (cutting every stream on it) and open again."""

    def __init__(self, app: FastAPI, lifespan: str = "on") -> None:
        self.app, self.lifespan, self.port = app, lifespan, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task | None = None

    async def open(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, lifespan=self.lifespan,
                                log_level="warning", timeout_graceful_shutdown=1)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        if self.server and self.task:
            self.server.should_exit = True
            await self.task
            self.server = self.task = None


@pytest.fixture
async def approvals_socket(clean_hub: dict[str, RunningService]) -> AsyncIterator[Socket]:
    """The running approvals app (its lifespan is the hub's) on a socket: ASGITransport would give the
    portal the stream only once it had ended."""
    socket = Socket(clean_hub["approvals"].app, lifespan="off")
    await socket.open()
    yield socket
    await socket.close()


@pytest.fixture
async def live_portal(
    settings: Settings, clean_hub: dict[str, RunningService], approvals_socket: Socket
) -> AsyncIterator[str]:
    """A portal calling approvals over its socket and the other services in process."""
    transports = {name: httpx.ASGITransport(app=s.app) for name, s in clean_hub.items() if name != "approvals"}
    portal = Socket(create_portal(PortalSettings(**settings.model_dump(), portal_approvals_url=approvals_socket.url),
                                  transports))  # fmt: skip
    await portal.open()
    yield portal.url
    await portal.close()


class Cable:
    """The network between the browser and the portal, as a TCP relay the test can cut (every open
    connection reset, new ones refused) and mend. Chromium's offline emulation leaves an open
    EventSource streaming, so it cannot stand in for a drop."""

    def __init__(self, portal_url: str) -> None:
        self.target = int(portal_url.rsplit(":", 1)[1])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def mend(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self.server:
            self.server.close()
            self.server = None
        for writer in self.links:
            writer.transport.abort()
        self.links.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        portal_reader, portal_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.links |= {writer, portal_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, portal_writer), pipe(portal_reader, writer))
        self.links -= {writer, portal_writer}


@pytest.fixture
async def cable(live_portal: str) -> AsyncIterator[Cable]:
    cable = Cable(live_portal)
    await cable.mend()
    yield cable
    await cable.cut()


@pytest.fixture
async def live_page(browser, cable: Cable) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=VIEWPORT, base_url=cable.url, color_scheme="light",
                                        timezone_id="UTC")  # fmt: skip
    context.set_default_timeout(10_000)
    yield await context.new_page()
    await context.close()


async def filed_with(approvals: RunningService, authority: str) -> list[int]:
    """The ids of the events of approvals filed with `authority`, oldest first (as the stream numbers them)."""
    rows = await approvals.sql("SELECT seq, envelope FROM outbox ORDER BY seq")
    concerned = [r.seq for r in rows if ((r.envelope["data"].get("approval") or {}).get("authority")) == authority]
    return concerned


async def shown_ids(page: Page) -> list[int]:
    return [int(i.removeprefix("event-")) for i in await page.locator("#live-events tbody tr").evaluate_all(
        "rows => rows.map(r => r.id)")]  # fmt: skip


async def read_ids(base: str, cookies: dict[str, str], count: int, **request: Any) -> list[int]:
    """The ids of the first `count` approvals' events the portal's stream sends (not its own notices)."""
    ids: list[int] = []
    async with (
        httpx.AsyncClient(base_url=base, cookies=cookies, timeout=10) as client,
        client.stream("GET", "/live/stream", **request) as response,
        asyncio.timeout(10),
    ):
        assert response.status_code == 200
        block: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line:
                field, _, value = line.partition(":")
                block[field] = value.strip()
                continue
            if block.get("event") == "approval-event":
                ids.append(int(block["id"]))
                if len(ids) == count:
                    break
            block = {}
    return ids


async def test_live_events_come_once_each_after_the_connection_drops_and_filter_by_type(
    live_page: Page, cable: Cable, live_portal: str, clean_hub: dict[str, RunningService], tokens: Tokens
):
    approvals, regulator = clean_hub["approvals"], tokens.regulator("DE-PEI")
    page = live_page
    await sign_in_as_regulator(page)
    await page.get_by_role("link", name="Live events").click()
    await expect(page.get_by_role("heading", name="Live events")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("Live: new events appear as they happen.")
    await expect(page.get_by_text("No events yet.")).to_be_visible()

    # The network drops before any event came: those filed meanwhile still arrive once it is back.
    await cable.cut()
    await expect(page.get_by_role("status")).to_contain_text("Connection lost: reconnecting.")
    platform = await filed(approvals, tokens, {"level": "parent", "covers": "platform", "authority": "DE-PEI",
                                               "title": "AAV9 capsid platform"}, review=True)  # fmt: skip
    await filed(approvals, tokens, {"level": "parent", "covers": "platform", "authority": "NL-IGJ",
                                    "title": "Lentiviral vector platform"})  # fmt: skip
    await cable.mend()
    await expect(page.get_by_role("status")).to_have_text("Live: new events appear as they happen.", timeout=40_000)
    rows = page.locator("#live-events tbody tr")
    await expect(rows).to_have_count(3)  # drafted, submitted, review started; NL-IGJ's never reach DE-PEI
    await expect(rows.first).to_contain_text("review started")
    await expect(rows.first).to_contain_text("AAV9 capsid platform")
    await checked(page, "regulator-live-events")

    # It drops again mid-stream: the page says so; meanwhile the platform is approved and another filed.
    await cable.cut()
    await expect(page.get_by_role("status")).to_contain_text("Connection lost: reconnecting.")
    await created(approvals, f"/v1/approvals/{platform}/decision",
                  {"outcome": "approved", "meaning": "Approved by DE-PEI", "reason": "Viral clearance validated",
                   "assessment": {"viral_safety": "acceptable"}}, regulator, expect=200)  # fmt: skip
    second = await filed(approvals, tokens, {"level": "parent", "covers": "platform", "authority": "DE-PEI",
                                             "title": "CD34 lentiviral platform"})  # fmt: skip
    await asyncio.sleep(3)  # past the browser's first attempts to come back, refused while the cable is cut
    await expect(rows).to_have_count(3)
    await cable.mend()

    await expect(page.get_by_role("status")).to_have_text("Live: new events appear as they happen.", timeout=40_000)
    await expect(rows).to_have_count(6)
    await created(approvals, f"/v1/approvals/{second}/review", {}, regulator, expect=200)
    await expect(rows).to_have_count(7)
    expected = await filed_with(approvals, "DE-PEI")
    assert len(expected) == 7
    assert await shown_ids(page) == expected[::-1]  # each exactly once, the newest on top
    await expect(rows.nth(0)).to_contain_text("review started")
    await expect(rows.nth(0)).to_contain_text("CD34 lentiviral platform")
    await expect(rows.nth(3)).to_contain_text("approved")
    await expect(rows.nth(3).locator("td").last).to_contain_text("regulator:")

    shown = page.locator("#live-events tbody tr:not([hidden])")
    await page.get_by_label("Event type").select_option(label="approved")
    await expect(shown).to_have_count(1)
    await expect(shown).to_contain_text("AAV9 capsid platform")
    await expect(page.get_by_text("1 of 7 events are of this type.")).to_be_visible()
    await page.get_by_label("Event type").select_option(label="submitted")
    await expect(shown).to_have_count(2)
    await checked(page, "regulator-live-events-filtered")
    await page.get_by_label("Event type").select_option(label="All types")
    await expect(shown).to_have_count(7)

    # Beyond the page's own check: the portal's stream itself resumes exactly after the id it is given.
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    resumed = await read_ids(live_portal, cookies, 4, headers={"Last-Event-ID": str(expected[2])})
    assert resumed == expected[3:]
    reopened = await read_ids(live_portal, cookies, 2, params={"after": str(expected[4])})
    assert reopened == expected[5:]


async def test_live_events_say_when_approvals_stops_answering_and_catch_up_when_it_is_back(
    live_page: Page, approvals_socket: Socket, clean_hub: dict[str, RunningService], tokens: Tokens
):
    approvals = clean_hub["approvals"]
    page = live_page
    await sign_in_as_regulator(page)
    await page.goto("/live")
    await expect(page.get_by_role("status")).to_have_text("Live: new events appear as they happen.")
    platform = await filed(approvals, tokens, {"level": "parent", "covers": "platform", "authority": "DE-PEI",
                                               "title": "AAV9 capsid platform"})  # fmt: skip
    rows = page.locator("#live-events tbody tr")
    await expect(rows).to_have_count(2)

    # The portal's side of the stream is cut: approvals' socket closes, with what was being sent on it.
    await approvals_socket.close()
    await expect(page.get_by_role("alert")).to_contain_text("Approvals is not answering.")
    await expect(page.get_by_role("status")).to_contain_text("Connection lost: reconnecting.")
    await created(approvals, f"/v1/approvals/{platform}/review", {}, tokens.regulator("DE-PEI"), expect=200)
    await filed(approvals, tokens, {"level": "parent", "covers": "platform", "authority": "DE-PEI",
                                    "title": "CD34 lentiviral platform"})  # fmt: skip
    await check_accessibility(page, "live events, approvals not answering")
    await approvals_socket.open()

    await expect(page.get_by_role("status")).to_have_text("Live: new events appear as they happen.", timeout=40_000)
    await expect(page.get_by_role("alert")).to_have_count(0)
    await expect(rows).to_have_count(5)
    assert await shown_ids(page) == (await filed_with(approvals, "DE-PEI"))[::-1]
    await expect(rows.first).to_contain_text("CD34 lentiviral platform")

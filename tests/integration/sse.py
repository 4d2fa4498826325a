"""Reading a service's SSE stream (`/v1/events/stream`) over a real socket, as a browser would."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

from devtools.stack import free_port


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """A running service's app behind a real uvicorn socket (ASGITransport does not stream)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="off", log_level="warning",
                            timeout_graceful_shutdown=1)  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{config.port}"
    server.should_exit = True
    await task


@asynccontextmanager
async def stream(base: str, headers: dict, **params):
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        client.stream("GET", "/v1/events/stream", headers=headers, params=params) as response,
    ):
        response.lines = response.aiter_lines()  # one iterator, read across several waits
        yield response


async def read_events(response: httpx.Response, count: int, blocks: bool = False) -> list[dict]:
    """The next `count` events (with `blocks`: also the blocks holding only an id)."""
    events: list[dict] = []
    current: dict = {}
    async with asyncio.timeout(5):
        async for line in response.lines:
            if not line:
                if "id" in current and ("data" in current or blocks):
                    events.append(current)
                    if len(events) == count:
                        return events
                current = {}
                continue
            field, _, value = line.partition(":")
            current[field] = value.strip()
    return events

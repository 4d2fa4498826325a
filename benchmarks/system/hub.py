"""The hub under test: `gmp-hub up` in a temporary data directory on free ports, as a user starts
it, and what the benchmark needs of it: its URLs, tokens from `gmp-hub token`, plain DSNs for SQL,
and the CPU time of all its processes (PostgreSQL and the broker included)."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from devtools.stack import free_port_block

BIN = Path(sys.executable).parent
SERVICES = ("registry", "materials", "scheduling", "approvals")  # ports base+1 … base+4, as the README says
PG_USER = "gmphub"  # the embedded server's superuser (trust authentication on loopback)


class Hub:
    """`commit`: run that commit's code (a snapshot by `git archive`, first on PYTHONPATH and the
    working directory, as `python -m uvicorn` puts that first) instead of the working tree's, e.g.
    to compare two commits or while the tree is being edited."""

    def __init__(self, commit: str | None = None, *, scheduling_replicas: int | None = None) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="gmphub-bench-"))
        self.base = free_port_block(6)
        self.pg_port, self.kafka_port = self.base + 5, self.base + 6
        self.idle = 0.0  # cores its processes use standing idle, once measured
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GMPHUB_")} | {
            "GMPHUB_DATA_DIR": str(self.data_dir),
            "GMPHUB_PORT_BASE": str(self.base),
            "GMPHUB_EMBEDDED_POSTGRES_PORT": str(self.pg_port),
            "GMPHUB_EMBEDDED_KAFKA_PORT": str(self.kafka_port),
            # Holds outlive the whole run: no expiry job freeing slots (and emitting events) midway.
            "GMPHUB_HOLD_TTL_SECONDS": "86400",
            # Thousands of requests a second from one address with a few tokens: limits counted, never reached.
            "GMPHUB_RATE_LIMIT_PER_PRINCIPAL": "100000000/minute",
            "GMPHUB_RATE_LIMIT_PER_ADDRESS": "100000000/minute",
            "GMPHUB_RATE_LIMIT_BOOKINGS": "100000000/minute",
        }
        if scheduling_replicas:
            self.env["GMPHUB_REPLICAS"] = f'{{"scheduling": {scheduling_replicas}}}'
        self.cwd: Path | None = None
        if commit:
            self.cwd = self.data_dir / "source"
            self.cwd.mkdir()
            archive = subprocess.run(["git", "archive", commit], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(self.cwd)], input=archive, check=True)
            self.env["PYTHONPATH"] = str(self.cwd)
        self.process: subprocess.Popen | None = None

    @property
    def log_file(self) -> Path:
        return self.data_dir / "hub.log"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.base + SERVICES.index(service) + 1}"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def dsn(self, database: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.pg_port}/{database}"

    def up(self, timeout: float = 180.0) -> float:
        """Start the hub and wait until every service answers /readyz; return the seconds it took."""
        started = time.monotonic()
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gmp-hub"), "up"], env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
            )
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() - started < timeout:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gmp-hub up exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if all(client.get(f"{self.url(s)}/readyz").status_code == 200 for s in SERVICES):
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"hub not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def down(self) -> None:
        """Ctrl-C, as a user stops it; its data directory goes with it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run `gmp-hub ARGS` against this hub and return what it printed."""
        done = subprocess.run(
            [str(BIN / "gmp-hub"), *args],
            env=self.env | (env or {}),
            cwd=self.cwd,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def token(self, role: str, *claims: str) -> str:
        return self.cli("token", "--role", role, *claims)

    def cpu_seconds(self) -> dict[str, float]:
        """User and system CPU so far of every process of the hub, by what it is: `gmp-hub up`, each
        service, PostgreSQL (server and backends), the broker. Exited children count in their parent."""
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        seconds: dict[str, float] = {}
        for process in (root, *root.children(recursive=True)):
            try:
                t = process.cpu_times()
                name = "gmp-hub up" if process == root else _service(process.cmdline()) or process.name()
            except psutil.NoSuchProcess:
                continue
            seconds[name] = seconds.get(name, 0.0) + t.user + t.system + t.children_user + t.children_system
        return seconds


QUIET_CPU_SHARE, QUIET_POLL_SECONDS = 0.1, 0.5  # a tenth of a core over idle, all the hub's processes together


def cpu_share(hub: "Hub", seconds: float) -> float:
    """The cores the hub's processes together use over the next `seconds`."""
    before, since = sum(hub.cpu_seconds().values()), time.monotonic()
    time.sleep(seconds)
    return (sum(hub.cpu_seconds().values()) - before) / (time.monotonic() - since)


async def hub_quiet(hub: "Hub", most_seconds: float = 30.0) -> bool:
    """Wait until the hub's processes together use under a tenth of a core more than when it stood
    idle (`Hub.idle`: its consumers' empty fetches; False if they still do after `most_seconds`):
    the work a load leaves behind (the relay publishing its events, consumers reading them, the
    hash chain) done before the next timed run starts."""
    deadline = time.monotonic() + most_seconds
    before, since = sum(hub.cpu_seconds().values()), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(QUIET_POLL_SECONDS)
        now, at = sum(hub.cpu_seconds().values()), time.monotonic()
        if now - before < (hub.idle + QUIET_CPU_SHARE) * (at - since):
            return True
        before, since = now, at
    return False


def replicas(hub: "Hub", service: str) -> int:
    """How many processes serve `service`."""
    assert hub.process is not None
    return sum(_service(p.cmdline()) == service for p in psutil.Process(hub.process.pid).children(recursive=True))


def _service(cmdline: list[str]) -> str | None:
    """The service a command line serves (`gmp-hub serve <name>`); its replicas count as one."""
    if "serve" in cmdline[:-1] and (service := cmdline[cmdline.index("serve") + 1]) in SERVICES:
        return service
    return None

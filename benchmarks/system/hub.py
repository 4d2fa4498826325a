"""The hub under test: `gmp-hub up` in a temporary data directory on free ports, as a user starts
it, and what the benchmark needs of it: its URLs, tokens from `gmp-hub token`, plain DSNs for SQL,
and the CPU time of all its processes (PostgreSQL and the broker included)."""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

BIN = Path(sys.executable).parent
SERVICES = ("registry", "materials", "scheduling", "approvals")  # ports base+1 … base+4, as the README says
PG_USER = "gmphub"  # the embedded server's superuser (trust authentication on loopback)


def _free_port_block(size: int) -> int:
    """A base such that base+1 … base+size are free on loopback."""
    for _ in range(100):
        base = random.randrange(20000, 40000, 10)
        try:
            for port in range(base + 1, base + size + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free block of ports")


class Hub:
    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="gmphub-bench-"))
        self.base = _free_port_block(6)
        self.pg_port, self.kafka_port = self.base + 5, self.base + 6
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GMPHUB_")} | {
            "GMPHUB_DATA_DIR": str(self.data_dir),
            "GMPHUB_PORT_BASE": str(self.base),
            "GMPHUB_EMBEDDED_POSTGRES_PORT": str(self.pg_port),
            "GMPHUB_EMBEDDED_KAFKA_PORT": str(self.kafka_port),
            # Holds outlive the whole run: no expiry job freeing slots (and emitting events) midway.
            "GMPHUB_HOLD_TTL_SECONDS": "86400",
        }
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
                [str(BIN / "gmp-hub"), "up"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() - started < timeout:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gmp-hub up exited with {self.process.returncode}; see {self.log_file}")
                try:
                    if all(client.get(f"{self.url(s)}/readyz").status_code == 200 for s in SERVICES):
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"hub not ready after {timeout:.0f}s; see {self.log_file}")

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
            [str(BIN / "gmp-hub"), *args], env=self.env | (env or {}), check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def token(self, role: str, *claims: str) -> str:
        return self.cli("token", "--role", role, *claims)

    def cpu_seconds(self, name: str | None = None) -> float:
        """User and system CPU so far of every process of the hub (`gmp-hub up`, the services,
        PostgreSQL with its backends, the broker), or of those called `name`; exited children
        count through their parents."""
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        total = 0.0
        for process in (root, *root.children(recursive=True)):
            try:
                if name is not None and process.name() != name:
                    continue
                t = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

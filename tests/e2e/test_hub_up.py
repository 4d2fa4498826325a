"""The hub started the way the README starts it (`gmp-hub up`): a facility registered on
registry reaches scheduling through the real broker within a second, `gmp-hub seed` fills it with
demo data, Ctrl-C leaves no process behind, and the data survives a restart."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.mmap_dict import MmapedDict

from devtools.stack import free_port_block
from tests.integration.shared.test_registry_to_scheduling import FACILITY

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


class Hub:
    def __init__(self, data_dir: Path) -> None:
        base = free_port_block(6)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GMPHUB_")} | {
            "GMPHUB_DATA_DIR": str(data_dir),
            "GMPHUB_PORT_BASE": str(base),
            "GMPHUB_EMBEDDED_POSTGRES_PORT": str(base + 5),
            "GMPHUB_EMBEDDED_KAFKA_PORT": str(base + 6),
        }
        self.base = base
        self.data_dir = data_dir
        self.process: subprocess.Popen | None = None

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.base + index}"

    def up(self, timeout: float = 120.0, stderr=subprocess.DEVNULL) -> float:
        started = time.monotonic()
        self.process = subprocess.Popen(
            [str(BIN / "gmp-hub"), "up"], env=self.env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        for line in self.process.stdout:
            if "GMP hub ready" in line:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                break
        raise AssertionError(f"hub not ready (exit code {self.process.poll()})")

    def token(self, *args: str) -> dict[str, str]:
        token = subprocess.run(
            [str(BIN / "gmp-hub"), "token", *args], env=self.env, check=True, capture_output=True, text=True
        ).stdout.strip()
        return {"Authorization": f"Bearer {token}"}

    def interrupt(self) -> tuple[int, list[psutil.Process]]:
        """Ctrl-C the hub; return its exit code and whichever of its children outlived it."""
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(60)
        gone, alive = psutil.wait_procs(children, timeout=5)
        return code, alive


def own_hub(tmp_path: Path) -> Iterator[Hub]:
    """A hub of the test's own, killed if the test leaves it running."""
    hub = Hub(tmp_path / "data")
    yield hub
    if hub.process and hub.process.poll() is None:
        hub.process.kill()


@pytest.fixture
def hub(tmp_path):
    yield from own_hub(tmp_path)


def test_hub_up_flows_an_event_seeds_stops_cleanly_and_keeps_data(hub):
    ready_after = hub.up()
    print(f"\ngmp-hub up ready after {ready_after:.1f}s")
    admin = hub.token("--role", "admin")

    with httpx.Client(timeout=5) as client:
        assert client.post(f"{hub.url(1)}/v1/facilities", json=FACILITY).status_code == 401
        created = client.post(f"{hub.url(1)}/v1/facilities", json=FACILITY, headers=admin)
        assert created.status_code == 201, created.text
        facility_id = created.json()["facility_id"]
        registered_at = time.monotonic()
        while True:
            seen = client.get(f"{hub.url(3)}/v1/facilities/{facility_id}", headers=admin)
            if seen.status_code == 200 or time.monotonic() - registered_at > 1.0:
                break
            time.sleep(0.01)
        arrival = time.monotonic() - registered_at
        assert seen.status_code == 200, f"scheduling had not seen the facility after {arrival:.2f}s"
        print(f"registry → broker → scheduling read model in {arrival * 1000:.0f} ms")
        for index in (1, 2, 3, 4):
            assert client.get(f"{hub.url(index)}/readyz").status_code == 200

        subprocess.run([str(BIN / "gmp-hub"), "seed"], env=hub.env, check=True, capture_output=True)
        developer = hub.token("--role", "developer", "--org", "ORG-1")
        # The demo data is there to search and book: nine weekly slots a facility, three each of
        # Berlin's and Lyon's held for their quotes on ORG-1's request (out of the search).
        for country, open_slots in (("DE", 6), ("NL", 9), ("FR", 6)):
            slots = client.get(f"{hub.url(3)}/v1/slots", params={"country": country}, headers=developer).json()
            assert len(slots["items"]) == open_slots, country
        [request] = client.get(f"{hub.url(3)}/v1/orgs/ORG-1/requests", headers=developer).json()
        assert (request["status"], request["batches"]) == ("quoted", 3)
        assert sorted(q["price_per_batch"] for q in request["quotes"]) == ["47500.00", "52000.00"]
        agreements = client.get(f"{hub.url(3)}/v1/orgs/ORG-1/agreements", headers=developer).json()
        assert [a["status"] for a in agreements] == ["active"]  # ORG-1's clinical runs in Berlin can be confirmed

    code, survivors = hub.interrupt()
    assert code == 0
    assert survivors == [], f"processes left behind: {survivors}"

    hub.up()
    with httpx.Client(timeout=5) as client:
        again = client.get(f"{hub.url(1)}/v1/facilities/{facility_id}", headers=hub.token("--role", "admin"))
        assert again.status_code == 200
        assert again.json()["legal_name"] == FACILITY["legal_name"]
    code, survivors = hub.interrupt()
    assert (code, survivors) == (0, [])


def test_two_scheduling_replicas_share_its_port_and_its_metrics(hub):
    """`GMPHUB_REPLICAS`: two scheduling processes on one port, both serving, their request counts
    added up in one `/metrics`, both stopped by Ctrl-C."""
    hub.env["GMPHUB_REPLICAS"] = '{"scheduling": 2}'
    hub.up()
    replicas = [p for p in psutil.Process(hub.process.pid).children() if "--reuse-port" in p.cmdline()]
    assert len(replicas) == 2 and all("scheduling" in p.cmdline() for p in replicas)
    developer = hub.token("--role", "developer", "--org", "ORG-1")
    served = 40
    for _ in range(served):  # a connection each: the kernel picks a replica per connection
        assert httpx.get(f"{hub.url(3)}/v1/slots", headers=developer, timeout=5).status_code == 200
    for replica in replicas:  # each answered some of them (the chance that one answered all is 2 in 2^40)
        counts = MmapedDict.read_all_values_from_file(
            str(hub.data_dir / "metrics" / "scheduling" / f"counter_{replica.pid}.db")
        )
        assert sum(value for key, value, *_ in counts if '"/v1/slots"' in key and "requests_total" in key) > 0
    metrics = httpx.get(f"{hub.url(3)}/metrics", timeout=5).text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("gmphub_http_requests_total{") and 'route="/v1/slots"' in line
    )
    assert counted == served  # both replicas' requests, whichever answered the scrape

    code, survivors = hub.interrupt()
    assert (code, survivors) == (0, [])

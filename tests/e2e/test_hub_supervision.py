"""`gmp-hub up` supervises its children: a service, the broker and PostgreSQL killed with SIGKILL
come back on their ports while the hub keeps running, each restart is a line on its stderr, and
Ctrl-C still leaves no process behind."""

import signal
import socket
import time

import httpx
import psutil
import pytest

from tests.e2e.test_hub_up import Hub, own_hub

pytestmark = pytest.mark.e2e


@pytest.fixture
def hub(tmp_path):
    yield from own_hub(tmp_path)


def child(hub: Hub, matches) -> psutil.Process:
    [found] = [p for p in psutil.Process(hub.process.pid).children() if matches(p.cmdline())]
    return found


def is_materials(cmdline: list[str]) -> bool:
    return "serve" in cmdline[:-1] and cmdline[cmdline.index("serve") + 1] == "materials"  # gmp-hub serve materials


def is_broker(cmdline: list[str]) -> bool:
    return "--listener-url" in cmdline


def is_postgres(cmdline: list[str]) -> bool:
    return cmdline[0].endswith("/postgres")


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def ready(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def test_killed_service_broker_and_database_are_restarted_and_ctrl_c_still_stops_all(hub, tmp_path):
    stderr_path = tmp_path / "hub.stderr"
    with stderr_path.open("w") as stderr:
        hub.up(stderr=stderr)
    killed = {what: child(hub, what) for what in (is_materials, is_broker, is_postgres)}
    for process in killed.values():
        process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()

    def restarted() -> bool:
        log = stderr_path.read_text()
        return all(f"{name} restarted (pid" in log for name in ("materials", "broker", "postgres"))

    with httpx.Client(timeout=2) as client:
        while not (
            restarted()
            and accepts(hub.base + 6)  # the broker, on the same port
            and accepts(hub.base + 5)  # PostgreSQL
            and all(ready(client, hub.url(i)) for i in (1, 2, 3, 4))
        ):
            assert hub.process.poll() is None, "the hub stopped"
            assert time.monotonic() - killed_at < 30, stderr_path.read_text()[-3000:]
            time.sleep(0.2)
    print(f"\nmaterials, broker and PostgreSQL back {time.monotonic() - killed_at:.1f}s after SIGKILL")
    for what, old in killed.items():
        assert child(hub, what).pid != old.pid  # a new process, not the old one still answering
    log = stderr_path.read_text()
    for name in ("materials", "broker", "postgres"):
        assert f"{name} exited with code -9 (SIGKILL)" in log
    assert hub.process.poll() is None

    code, survivors = hub.interrupt()
    assert code == 0
    assert survivors == [], f"processes left behind: {survivors}"

"""Fixtures of the fault suite: one hub of real, separately killable processes shared by the tests
of this folder (each test works on a facility of its own, so their data never mix), and a client of
its public APIs. The test that stops the hub as a whole runs `gmp-hub up` of its own."""

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.faults.bookings import HubClient
from tests.faults.harness import CommandLineHub, ProcessHub


@contextmanager
def scratch_folder(request: pytest.FixtureRequest, prefix: str) -> Iterator[Path]:
    """A temporary folder, kept (and named) if a test failed meanwhile, so its logs can be read.
    Not pytest's numbered folders: a concurrent pytest run may prune them under us."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    failed_before = request.session.testsfailed
    try:
        yield root
    finally:
        if request.session.testsfailed > failed_before:
            print(f"\nlogs of the failed fault tests kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
async def process_hub(request: pytest.FixtureRequest) -> AsyncIterator[ProcessHub]:
    with scratch_folder(request, "gmphub-faults-") as root:
        hub = ProcessHub(root)
        try:
            await hub.start()
            yield hub
        finally:
            hub.stop()


@pytest.fixture
async def running_hub(request: pytest.FixtureRequest, process_hub: ProcessHub) -> AsyncIterator[ProcessHub]:
    """The shared hub with every process up. After a failed test its services start afresh: a
    service a fault left alive but wedged would otherwise fail the next test too."""
    await process_hub.ensure_running()
    failed_before = request.session.testsfailed
    yield process_hub
    if request.session.testsfailed > failed_before:
        await process_hub.restart_services()


@pytest.fixture
async def client(running_hub: ProcessHub) -> AsyncIterator[HubClient]:
    async with HubClient(running_hub.address) as client:
        yield client


@pytest.fixture
def command_line_hub(request: pytest.FixtureRequest) -> Iterator[CommandLineHub]:
    with scratch_folder(request, "gmphub-faults-up-") as root:
        hub = CommandLineHub(root)
        try:
            yield hub
        finally:
            hub.stop()

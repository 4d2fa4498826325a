"""The request guard (shared/guards.py) on the running services: bodies limited before they are
read, authentication before a body, rate limits, the security headers, the operations pages kept
to the internal networks, and the correlation id taken only when well formed. The size limits are
also tried over a real socket against uvicorn served as `gmp-hub serve` serves it."""

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from devtools.stack import free_port
from shared.auth import Role
from shared.cli import SERVE_OPTIONS
from shared.guards import BODY_METHODS
from shared.settings import SERVICES
from tests.integration.registry.helpers import create_facility, issue_certificate
from tests.support import RunningService

PROBLEM = "application/problem+json"
MIB = 1024 * 1024


@contextmanager
def configured(service: RunningService, **settings: object) -> Iterator[None]:
    """The running service with some settings changed for the test (its guard rebuilds its limits)."""
    original = service.context.settings
    service.context.settings = original.model_copy(update=settings)
    try:
        yield
    finally:
        service.context.settings = original


class Served:
    """The service's app behind a real uvicorn with `gmp-hub serve`'s options, counting the body
    bytes the app (its guard first) took from the server."""

    def __init__(self, service: RunningService) -> None:
        self.service, self.port, self.received = service, free_port(), 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            message = await receive()
            self.received += len(message.get("body", b""))
            return message

        await self.service.app(scope, counted, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator["Served"]:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning", interface="asgi3",
                                **SERVE_OPTIONS)  # fmt: skip
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        try:
            yield self
        finally:
            server.should_exit = True
            await task


class Body:
    """A large body sent in chunks."""

    def __init__(self, size: int, chunk: int = 64 * 1024) -> None:
        self.size, self.chunk = size, chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = b"x" * self.chunk
        for _ in range(self.size // self.chunk):
            yield block


async def test_curl_with_a_100_mb_body_and_no_token_is_answered_before_it_sends_it(registry):
    """What curl does with a large body: it asks `Expect: 100-continue` and waits for the answer."""
    async with Served(registry).running() as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        started = time.perf_counter()
        writer.write(
            b"POST /v1/facilities HTTP/1.1\r\nHost: registry\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (100 * MIB)
        )
        await writer.drain()
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
        print(
            f"100 MB declared, no token: {head.splitlines()[0]} after {(time.perf_counter() - started) * 1000:.1f} ms"
        )
        writer.close()
        assert head.startswith("HTTP/1.1 413 ")  # not "100 Continue": the body was never asked for
        assert "content-type: application/problem+json" in head.lower()
        assert "server:" not in head.lower()  # no `server: uvicorn` banner
        assert served.received == 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_itself_gets_413_without_uploading(registry, tmp_path):
    body = tmp_path / "100mb.json"
    with body.open("wb") as file:
        file.truncate(100 * MIB)  # sparse: nothing written to disk
    async with Served(registry).running() as served:
        curl = await asyncio.create_subprocess_exec(
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_upload} %{time_total}",
            "-H", "Content-Type: application/json", "--data-binary", f"@{body}", f"{served.url}/v1/facilities",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        output, _ = await curl.communicate()
    status, uploaded, seconds = output.decode().split()
    print(f"curl, 100 MB, no token: {status} after {float(seconds) * 1000:.1f} ms, {uploaded} bytes sent")
    assert status == "413"
    assert int(uploaded) == 0 and served.received == 0


async def test_a_large_body_is_refused_without_the_app_reading_it(registry, tokens):
    async with Served(registry).running() as served, httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        json = {"Content-Type": "application/json"}
        declared = await client.post(
            "/v1/facilities", content=Body(20 * MIB), headers=json | {"Content-Length": str(20 * MIB)}
        )
        assert (declared.status_code, declared.headers["content-type"]) == (413, PROBLEM)
        assert served.received == 0

        chunked = await client.post("/v1/facilities", content=Body(20 * MIB), headers=json)  # no Content-Length
        assert (chunked.status_code, chunked.headers["content-type"]) == (401, PROBLEM)
        assert chunked.headers["www-authenticate"] == "Bearer"
        assert served.received == 0  # authenticated before the body

        with_token = await client.post("/v1/facilities", content=Body(20 * MIB), headers=json | tokens.admin())
        assert (with_token.status_code, with_token.headers["content-type"]) == (413, PROBLEM)
        assert "larger than 1048576 bytes" in with_token.json()["detail"]
        assert served.received <= MIB + 64 * 1024  # counted as it came, cut off at the limit
    assert await registry.outbox_events() == []


async def test_a_padded_10_mb_booking_is_refused_413(scheduling, tokens):
    booking = {"slot_ids": [str(uuid.uuid4())], "product": "CAR-T", "run_kind": "development", "pad": "x" * 10 * MIB}
    answer = await scheduling.client.post("/v1/bookings", json=booking, headers=tokens.developer())
    assert (answer.status_code, answer.headers["content-type"]) == (413, PROBLEM)


async def test_the_csv_import_takes_more_than_a_mebibyte(materials, tokens):
    header = "name,category,grade,origin,catalogue_number\n"
    rows = "".join(f"Medium {i},cell_culture_medium,gmp,animal_origin_free,CAT-{i:07d}\n" for i in range(30_000))
    csv = (header + rows).encode()
    assert MIB < len(csv) < 50 * MIB
    answer = await materials.client.post(
        "/v1/materials/import?dry_run=true", files={"file": ("big.csv", csv, "text/csv")}, headers=tokens.admin()
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == 30_000


@pytest.mark.parametrize("name", SERVICES)
async def test_every_operation_that_takes_a_body_needs_a_token(hub, name):
    """What lets the guard answer 401 before reading a body that comes without a valid token: every
    such operation depends on the bearer authentication (its OpenAPI says so)."""
    document = (await hub[name].client.get("/openapi.json")).json()
    operations = [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method.upper() in BODY_METHODS
    ]
    assert len(operations) >= 3  # every service has some
    assert [(m, p) for m, p, operation in operations if {"HTTPBearer": []} not in operation.get("security", [])] == []


async def test_answers_carry_the_security_headers(registry, tokens):
    anonymous = await registry.client.get("/healthz")
    assert anonymous.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in anonymous.headers and "strict-transport-security" not in anonymous.headers

    authenticated = await registry.client.get("/v1/facilities", headers=tokens.admin())
    assert authenticated.status_code == 200
    assert authenticated.headers["cache-control"] == "no-store"
    refused = await registry.client.get("/v1/facilities", headers={"Authorization": "Bearer forged"})
    assert (refused.status_code, refused.headers["cache-control"]) == (401, "no-store")

    forwarded = await registry.client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert forwarded.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_a_correlation_id_is_taken_only_when_short_and_plain(registry):
    kept = await registry.client.get("/healthz", headers={"X-Correlation-ID": "onboarding-7"})
    assert kept.headers["x-correlation-id"] == "onboarding-7"
    for hostile in ('a"b', "x" * 5000, "<script>", " leading-space"):
        answer = await registry.client.get("/healthz", headers={"X-Correlation-ID": hostile})
        assert str(uuid.UUID(answer.headers["x-correlation-id"])) == answer.headers["x-correlation-id"]


async def test_operations_pages_only_to_the_internal_networks(registry):
    with configured(registry, internal_networks="10.0.0.0/8, fd00::/8"):  # the test client is 127.0.0.1
        for path in ("/metrics", "/docs", "/openapi.json"):
            answer = await registry.client.get(path)
            assert (answer.status_code, answer.headers["content-type"]) == (404, PROBLEM), path
        assert (await registry.client.get("/healthz")).status_code == 200  # probes still answered
    with configured(registry, internal_networks="127.0.0.0/8"):
        assert (await registry.client.get("/metrics")).status_code == 200
        through_ingress = await registry.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert through_ingress.status_code == 404
    assert (await registry.client.get("/metrics")).status_code == 200  # unset: development serves them


def assert_throttled(answer: httpx.Response, limit: int) -> None:
    assert (answer.status_code, answer.headers["content-type"]) == (429, PROBLEM), answer.text
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert answer.headers["ratelimit-limit"] == str(limit)
    assert answer.headers["ratelimit-remaining"] == "0"
    assert answer.headers["ratelimit-policy"] == f"{limit};w=60"


async def test_failed_authentications_are_throttled_per_address(registry, tokens):
    with configured(registry, rate_limit_failed_authentication="3/minute"):
        bad = {"Authorization": "Bearer abc.def.ghi"}
        statuses = [(await registry.client.get("/v1/facilities", headers=bad)).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        assert_throttled(await registry.client.get("/v1/facilities", headers=bad), 3)
        assert_throttled(await registry.client.get("/v1/facilities", headers={"Authorization": "Basic x"}), 3)
        assert (await registry.client.get("/v1/facilities", headers=tokens.admin())).status_code == 200
        # without a token (the portal's public pages come from one address) nothing is held back
        assert (await registry.client.get("/v1/facilities")).status_code == 401
        assert (await registry.client.get("/v1/public/facilities")).status_code == 200


async def test_each_principal_and_each_anonymous_address_has_its_budget(registry, tokens):
    with configured(registry, rate_limit_per_principal="5/minute", rate_limit_per_address="4/minute"):
        first, second = tokens.developer(sub="dev-a"), tokens.developer(sub="dev-b")
        assert [(await registry.client.get("/v1/facilities", headers=first)).status_code for _ in range(5)] == [200] * 5
        assert_throttled(await registry.client.get("/v1/facilities", headers=first), 5)
        assert (await registry.client.get("/v1/facilities", headers=second)).status_code == 200
        assert [(await registry.client.get("/healthz")).status_code for _ in range(4)] == [200] * 4
        assert_throttled(await registry.client.get("/healthz"), 4)


async def test_holding_slots_has_a_stricter_limit(scheduling, tokens):
    with configured(scheduling, rate_limit_bookings="2/minute"):
        booking = {"slot_ids": [str(uuid.uuid4())], "product": "CAR-T", "run_kind": "development"}
        statuses = [
            (await scheduling.client.post("/v1/bookings", json=booking, headers=tokens.developer())).status_code
            for _ in range(2)
        ]
        assert 429 not in statuses
        assert_throttled(await scheduling.client.post("/v1/bookings", json=booking, headers=tokens.developer()), 2)
        other = await scheduling.client.post("/v1/bookings", json=booking, headers=tokens.developer(sub="dev-2"))
        assert other.status_code != 429
        assert (await scheduling.client.get("/v1/bookings", headers=tokens.developer())).status_code == 200


async def test_a_stale_sign_in_asked_to_step_up_is_not_a_failed_authentication(registry, tokens):
    """A signature with an old sign-in is answered 401 (RFC 9470 step-up) however often: the token
    itself is good, so it does not spend the address's budget of refused tokens."""
    cert = await issue_certificate(registry, tokens, (await create_facility(registry, tokens))["facility_id"])
    stale = tokens.headers(Role.REGULATOR, authority="DE-PEI", sub="inspector-1", auth_time=int(time.time()) - 600)
    with configured(registry, rate_limit_failed_authentication="3/minute"):
        for _ in range(5):
            answer = await registry.client.post(
                f"/v1/certificates/{cert['certificate_id']}/suspend", json={"reason": "Findings"}, headers=stale
            )
            assert (
                answer.status_code == 401 and "insufficient_user_authentication" in answer.headers["www-authenticate"]
            )
        bad = {"Authorization": "Bearer abc.def.ghi"}
        assert [(await registry.client.get("/v1/facilities", headers=bad)).status_code for _ in range(3)] == [401] * 3
        assert_throttled(await registry.client.get("/v1/facilities", headers=bad), 3)  # the budget was whole

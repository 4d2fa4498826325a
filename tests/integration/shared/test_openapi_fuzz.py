"""Each service's OpenAPI document fuzzed against the service itself (schemathesis, every check,
a fixed seed, a bounded number of cases): what it answers is what it documents, status codes,
media types, headers and bodies, and no input makes it fail. The service runs behind a real
uvicorn on its real database and broker; an admin token reaches every operation it may."""

import asyncio
import os
import sys
from pathlib import Path

import pytest

from shared.settings import SERVICES
from tests.integration.shared.test_guards import Served

SEED = 17
EXAMPLES = 8  # per operation and phase: the whole run stays within a few minutes
# One worker: hypothesis describes strategies with `ast.parse`, which CPython 3.11 can fail in
# threads side by side ("AST constructor recursion depth mismatch").
ST = Path(sys.executable).parent / "st"
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.parametrize("name", SERVICES)
async def test_the_service_answers_as_its_openapi_document_says(clean_hub, tokens, name, tmp_path):
    async with Served(clean_hub[name]).running() as served:
        process = await asyncio.create_subprocess_exec(
            str(ST), "--config-file", str(CONFIG), "run", f"{served.url}/openapi.json", "--checks", "all", "--seed", str(SEED),
            "--max-examples", str(EXAMPLES), "--phases", "examples,coverage,fuzzing", "--workers", "1",
            "--no-shrink", "--header", f"Authorization: {tokens.admin()['Authorization']}",
            "--request-timeout", "10", "--output-truncate", "false",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
            env=os.environ | {"NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
        )  # fmt: skip
        output, _ = await process.communicate()
    report = output.decode()
    assert process.returncode == 0, report


@pytest.mark.parametrize("name", SERVICES)
async def test_every_operation_documents_its_errors_as_problems(hub, name):
    document = (await hub[name].client.get("/openapi.json")).json()
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    operations = [(p, o) for p, item in document["paths"].items() for o in item.values()]
    assert len(operations) > 10
    for path, operation in operations:
        statuses = {"400", "404", "409", "412", "413", "422", "428", "429", "503"}
        if not (path.startswith("/v1/public/") or path in ("/healthz", "/readyz", "/metrics", "/asyncapi.json")):
            statuses |= {"401", "403"}
        for status in statuses:
            content = operation["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (path, status)
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
        assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert "HTTPValidationError" not in str(document)


async def test_a_method_not_allowed_lists_every_method_of_the_path(hub):
    answer = await hub["registry"].client.request("OPTIONS", "/v1/facilities")
    assert (answer.status_code, answer.headers["content-type"]) == (405, "application/problem+json")
    assert answer.headers["allow"] == "GET, POST"
    imported = await hub["materials"].client.patch("/v1/materials/import")  # not a material id
    assert (imported.status_code, imported.headers["allow"]) == (405, "POST")

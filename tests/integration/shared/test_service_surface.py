"""What every service answers the same way: health, readiness, metrics, AsyncAPI, problem+json
errors, authentication, and a correlation id that follows a request into its events."""

import pytest

from shared.settings import SERVICES
from tests.integration.shared.test_registry_to_scheduling import FACILITY

PROBLEM = "application/problem+json"


@pytest.mark.parametrize("name", SERVICES)
async def test_each_service_reports_health_readiness_metrics_and_its_events(clean_hub, name):
    client = clean_hub[name].client
    assert (await client.get("/healthz")).json() == {"status": "ok", "service": name, "version": "1.0.0"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "consumer": "ok"}
    metrics = await client.get("/metrics")
    assert "gmphub_http_requests_total" in metrics.text
    asyncapi = (await client.get("/asyncapi.json")).json()
    assert asyncapi["channels"][name]["address"] == f"gmphub.{name}.v1"
    assert (await client.get("/openapi.json")).status_code == 200


async def test_no_token_bad_token_and_wrong_role_are_refused_as_problems(registry, tokens):
    missing = await registry.client.post("/v1/facilities", json=FACILITY)
    assert (missing.status_code, missing.headers["content-type"]) == (401, PROBLEM)
    assert missing.headers["www-authenticate"] == "Bearer"

    forged = await registry.client.post(
        "/v1/facilities", json=FACILITY, headers={"Authorization": "Bearer abc.def.ghi"}
    )
    assert forged.status_code == 401
    assert forged.json()["detail"].startswith("The token is not valid")

    developer = await registry.client.post("/v1/facilities", json=FACILITY, headers=tokens.developer())
    assert (developer.status_code, developer.headers["content-type"]) == (403, PROBLEM)
    assert await registry.outbox_events() == []  # nothing changed


async def test_bad_input_is_a_clear_problem_and_changes_nothing(registry, tokens):
    response = await registry.client.post(
        "/v1/facilities",
        json={k: v for k, v in FACILITY.items() if k != "legal_name"} | {"country": "Germany"},
        headers=tokens.admin(),
    )
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM)
    problem = response.json()
    assert problem["title"] == "Unprocessable Entity"
    assert {("body", "country"), ("body", "legal_name")} <= {tuple(e["loc"]) for e in problem["errors"]}
    assert "legal_name" in problem["detail"]
    assert await registry.outbox_events() == []

    unknown = await registry.client.get("/v1/nothing-here", headers=tokens.admin())
    assert (unknown.status_code, unknown.headers["content-type"]) == (404, PROBLEM)


async def test_the_correlation_id_of_a_request_is_carried_by_its_events(registry, tokens):
    response = await registry.client.post(
        "/v1/facilities", json=FACILITY, headers=tokens.admin() | {"X-Correlation-ID": "onboarding-7"}
    )
    assert response.headers["x-correlation-id"] == "onboarding-7"
    [envelope] = await registry.outbox_events("gmphub.registry.facility.registered.v1")
    assert envelope["correlationid"] == "onboarding-7"
    assert envelope["actor"] == "admin:hub-operator"


async def test_an_event_names_the_person_who_caused_it(registry, tokens):
    from shared.auth import Role

    operator = tokens.headers(Role.ADMIN, sub="hub-operator", name="Dr. Ada Weber")
    response = await registry.client.post("/v1/facilities", json=FACILITY, headers=operator)
    assert response.status_code == 201, response.text
    [envelope] = await registry.outbox_events("gmphub.registry.facility.registered.v1")
    assert (envelope["actor"], envelope["actorname"]) == ("admin:hub-operator", "Dr. Ada Weber")
    assert envelope["time"].endswith(("+00:00", "Z"))  # UTC, with its offset

    anonymous = await registry.client.post("/v1/facilities", json=FACILITY | {"legal_name": "Other"},
                                           headers=tokens.admin())  # fmt: skip
    assert anonymous.status_code == 201, anonymous.text
    events = await registry.outbox_events("gmphub.registry.facility.registered.v1")
    assert events[-1]["actorname"] == "hub-operator"  # no `name` claim: the subject


@pytest.mark.parametrize(
    ("name", "method", "path", "body"),
    [
        ("registry", "POST", "/v1/facilities", FACILITY),
        ("scheduling", "GET", "/v1/slots", None),  # the search reads on a pool of its own
    ],
)
async def test_a_database_outage_is_a_503_problem_and_not_ready(settings, tokens, name, method, path, body):
    import importlib

    import httpx

    from devtools.stack import free_port
    from shared.service import create_app

    away = settings.model_copy(
        update={f"{name}_database_url": f"postgresql+asyncpg://gmphub@127.0.0.1:{free_port()}/x"}
    )
    app = create_app(importlib.import_module(f"services.{name}.main").spec, away)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=f"http://{name}"
        ) as client,
    ):
        headers = tokens.admin() if name == "registry" else tokens.developer()
        response = await client.request(method, path, json=body, headers=headers)
        assert (response.status_code, response.headers["content-type"]) == (503, PROBLEM), response.text
        assert response.headers["retry-after"] == "5"
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("unavailable")


async def test_values_the_database_cannot_hold_are_a_422_not_a_500(materials, scheduling, tokens):
    # Found by fuzzing the OpenAPI documents (schemathesis): integers past 64 bits and NUL characters.
    huge = str(2**80)
    search = await materials.client.get("/v1/materials", params={"usp1043_tier": huge}, headers=tokens.developer())
    bookings = await scheduling.client.get("/v1/bookings", params={"offset": huge}, headers=tokens.developer())
    nul = await scheduling.client.get("/v1/slots", params={"process": "car\x00t"}, headers=tokens.developer())
    for response in (search, bookings, nul):
        assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM), response.text


async def test_a_value_the_driver_cannot_send_leaves_no_statement_half_sent(materials, tokens):
    """asyncpg sends a statement's Sync with its arguments: one it cannot encode (an integer past
    64 bits) left the server waiting mid-statement, in an implicit transaction holding the table's
    lock, on a connection the pool then handed out again."""
    import asyncpg

    for _ in range(3):
        search = await materials.client.get(
            "/v1/materials", params={"usp1043_tier": str(2**80)}, headers=tokens.developer()
        )
        assert search.status_code == 422, search.text
    from shared.database import driver_dsn

    outside = await asyncpg.connect(driver_dsn(materials.context.settings.database_url("materials")))  # not pooled
    try:
        half_sent = await outside.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state = 'active' AND wait_event = 'ClientRead'"
        )
        async with outside.transaction():
            await outside.execute("LOCK TABLE material IN ACCESS EXCLUSIVE MODE NOWAIT")  # as TRUNCATE would
    finally:
        await outside.close()
    assert half_sent == 0


async def test_a_patch_that_leaves_an_invalid_entry_is_a_422_and_changes_nothing(materials, tokens):
    created = await materials.client.post(
        "/v1/materials",
        json={"name": "TexMACS GMP Medium", "category": "cell_culture_medium", "grade": "gmp",
              "origin": "animal_origin_free"},
        headers=tokens.admin(),
    )  # fmt: skip
    material_id = created.json()["material_id"]

    patched = await materials.client.patch(f"/v1/materials/{material_id}", json={"name": None}, headers=tokens.admin())

    assert (patched.status_code, patched.headers["content-type"]) == (422, PROBLEM)
    assert patched.json()["errors"][0]["loc"] == ["name"]
    current = await materials.client.get(f"/v1/materials/{material_id}", headers=tokens.admin())
    assert current.json()["name"] == "TexMACS GMP Medium"
    assert len(await materials.outbox_events()) == 1  # only the registration

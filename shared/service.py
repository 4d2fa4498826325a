"""Builds a service's FastAPI app from its parts: the router, the events it consumes, its
background jobs. Every service is wired the same way here, so knowing one means knowing all."""

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sized
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from pydantic import BaseModel

from shared import openapi
from shared.asyncapi import asyncapi_document
from shared.audit import anchor_job, chain_job
from shared.auth import Principal, Role, require_roles
from shared.consumer import EventConsumer, Followed, Handler
from shared.database import Database, UnitOfWork, is_outage
from shared.dlq import ServiceDeadLetters, send_back, waiting_for
from shared.errors import install_problem_handlers, problem_response
from shared.events import topic_of
from shared.guards import RequestGuard, RouteLimits
from shared.kafka import BrokerLink, dlq_of, ensure_topics
from shared.observability import RequestContextMiddleware, configure_logging, log_fields
from shared.outbox import OutboxRelay
from shared.settings import Settings, get_settings
from shared.tracing import configure_tracing

log = logging.getLogger(__name__)
API_VERSION = "1.0.0"  # every service's OpenAPI `info.version`, also in `/healthz` (open to all, unlike the docs)


@dataclass
class ServiceContext:
    """What a running service holds; background jobs and API dependencies receive it."""

    name: str
    settings: Settings
    db: Database
    broker: BrokerLink


BackgroundJob = Callable[[ServiceContext], Awaitable[None]]
JOB_BATCH = 100  # rows a job changes per transaction


async def in_batches(
    context: ServiceContext, actor: str, step: Callable[[UnitOfWork], Awaitable[Sized]], batch: int = JOB_BATCH
) -> int:
    """Run `step` (up to `batch` changes) in a transaction of its own, again and again until a
    transaction finds less than a batch to do; return how many changes in all. Short transactions
    keep locks brief while a job catches up."""
    total = 0
    while True:
        async with context.db.unit_of_work(actor) as uow:
            done = await step(uow)
            await uow.commit()
        total += len(done)
        if len(done) < batch:
            return total


def periodic(name: str, round_: Callable[[ServiceContext], Awaitable[int]], did: str) -> BackgroundJob:
    """A background job that runs `round_` every `job_interval_seconds` and logs `did` (a format
    with one %d) when it changed something. Every replica runs it: `round_` must be safe side by side."""

    async def job(context: ServiceContext) -> None:
        while True:
            if count := await round_(context):
                log.info(did, count)
            await asyncio.sleep(context.settings.job_interval_seconds)

    job.__name__ = name
    return job


@dataclass
class ServiceSpec:
    name: str
    title: str
    description: str
    routers: list[APIRouter]
    # Its `inbound.py` models mapped to handlers, built from the settings they need (consumers.follows).
    consumes: Callable[[Settings], dict[type[Followed], Handler]] = lambda settings: {}
    jobs: list[BackgroundJob] = field(default_factory=list)
    openapi_tags: list[dict[str, str]] = field(default_factory=list)
    # The service's own settings (the shared ones plus its own) and unit of work (with its repositories).
    settings: type[Settings] = Settings
    unit_of_work: type[UnitOfWork] = UnitOfWork
    # Paths whose bodies may be larger than `max_body_bytes` (bytes), and stricter rate limits of
    # some routes, (method, path) -> limit, read from the service's settings (shared/guards.py).
    body_limits: dict[str, int] = field(default_factory=dict)
    route_limits: RouteLimits = lambda settings: {}


async def get_context(request: Request) -> ServiceContext:
    """Async though it awaits nothing: FastAPI runs a plain function dependency on a worker thread,
    a hop that cost every request more than reading the attribute."""
    context: ServiceContext = request.app.state.context
    return context


Context = Annotated[ServiceContext, Depends(get_context)]


async def _supervise(name: str, job: Callable[[], Awaitable[None]]) -> None:
    """Keep a background loop alive: restart it if it ever fails. An outage (the database away) is
    a warning with growing pauses; anything else is an error with its traceback."""
    pause = 1.0
    while True:
        try:
            await job()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_outage(exc):
                log.exception("background task %s failed; restarting", name)
                pause = 1.0
            else:
                log.warning("background task %s paused, a dependency is away: %s", name, exc)
                pause = min(pause * 2, 15.0)
            await asyncio.sleep(pause)


def create_app(spec: ServiceSpec, settings: Settings | None = None) -> FastAPI:
    """The app; settings are read when it starts (from `GMPHUB_*` unless given)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = _service_settings(spec, settings or get_settings())
        configure_logging(current.log_level, current.log_json, spec.name)
        db = Database(
            current.database_url(spec.name), current.database_pool_size, spec.unit_of_work, current.search_connections
        )
        configure_tracing(spec.name, current.otel_exporter_otlp_endpoint, db.engine)
        broker = BrokerLink(current)
        context = ServiceContext(spec.name, current, db, broker)
        app.state.context = context
        relay = OutboxRelay(spec.name, db, broker, current)
        consumer = EventConsumer(spec.name, db, broker, current, spec.consumes(current))
        app.state.consumer = consumer
        loops: dict[str, Callable[[], Awaitable[None]]] = {
            "outbox-relay": relay.run,
            "consumer": consumer.run,
            "audit-chain": partial(chain_job, db, current),
            "audit-anchor": partial(anchor_job, db, spec.name, current),
        }
        loops |= {job.__name__: partial(job, context) for job in spec.jobs}
        own_topic = topic_of(spec.name)
        with suppress(Exception):  # the broker may be away; relay and consumer retry on their own
            await ensure_topics(current, [own_topic, dlq_of(own_topic)])
        tasks = [asyncio.create_task(_supervise(name, loop), name=name) for name, loop in loops.items()]
        # What exists once started (modules, the app, pools) lives as long as the process; frozen, the
        # collector's full passes no longer walk it while every request in flight waits (R7, with the
        # searches queued fairly: p99 139 → 83 ms).
        gc.freeze()
        log.info("%s service started", spec.name)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await broker.close()
            await db.dispose()

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version=API_VERSION,
        lifespan=lifespan,
        openapi_tags=spec.openapi_tags,
    )
    install_problem_handlers(app)
    app.add_middleware(RequestGuard, body_limits=spec.body_limits, route_limits=spec.route_limits)
    app.add_middleware(RequestContextMiddleware, service=spec.name)  # outermost: guard answers get an id too
    for router in spec.routers:
        app.include_router(router)
    app.include_router(_operations_router(spec))
    openapi.install(app)  # every operation's error answers, as problem+json
    return app


def _service_settings(spec: ServiceSpec, common: Settings) -> Settings:
    """The service's settings: the common ones as given, its own read from `GMPHUB_*`."""
    if isinstance(common, spec.settings):
        return common
    return spec.settings(**common.model_dump())


class TopicDeadLetters(BaseModel):
    topic: str  # where the events came from and go back to
    dlq: str
    count: int
    event_ids: list[str]


class DeadLetterReport(BaseModel):
    """The service's dead letters: waiting (`GET`), or just sent back (`POST`, with who did it)."""

    service: str
    count: int
    topics: list[TopicDeadLetters]
    replayed_by: str | None = None


def _report(letters: ServiceDeadLetters, replayed_by: str | None = None) -> DeadLetterReport:
    topics = [
        TopicDeadLetters(topic=t, dlq=dlq_of(t), count=len(rs), event_ids=[letters.event_id(r) for r in rs])
        for t, rs in sorted(letters.waiting.items())
    ]
    return DeadLetterReport(service=letters.service, count=letters.count, topics=topics, replayed_by=replayed_by)


Operator = Annotated[Principal, require_roles(Role.ADMIN)]  # only the hub operator sees and replays dead letters
Inspector = Annotated[Principal, require_roles(Role.ADMIN, Role.REGULATOR)]  # the operator and the regulators


def _broker_away(exc: Exception) -> Response:
    log.warning("dead letters: the broker did not answer: %r", exc)
    return problem_response(
        503, "The broker did not answer in time; look at the dead letters again shortly.", headers={"Retry-After": "5"}
    )


def _operations_router(spec: ServiceSpec) -> APIRouter:
    router = APIRouter(tags=["operations"])
    replaying = asyncio.Lock()  # one replay at a time per process: a second click waits, then finds less

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": spec.name, "version": API_VERSION}

    @router.get("/readyz", summary="The database and the broker answer now")
    async def readyz(request: Request, context: Context) -> Response:
        checks: dict[str, str] = {}
        for name, check in (("database", context.db.ping), ("broker", context.broker.check)):
            try:
                await asyncio.wait_for(check(), 3.0)
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"unavailable: {type(exc).__name__}"
        checks["consumer"] = "ok" if request.app.state.consumer.joined else "unavailable: joining its group"
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        failing = ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok")
        return problem_response(503, f"Not ready: {failing}.", checks=checks)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # replicas on one machine: all of them
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @router.get("/asyncapi.json", summary="AsyncAPI 3 document of the events this service publishes")
    async def asyncapi(context: Context) -> dict[str, Any]:
        return asyncapi_document([spec.name], f"{spec.title} events", context.settings.kafka_servers)

    async def waiting(request: Request, context: ServiceContext) -> ServiceDeadLetters:
        topics = request.app.state.consumer.topics
        async with asyncio.timeout(context.settings.kafka_request_timeout_seconds * 3):
            return await waiting_for(spec.name, context.settings, context.db, topics)

    @router.get(
        "/ops/dlq",
        summary="Dead letters this service's consumer sent and has not applied since (admin)",
        response_model=DeadLetterReport,
    )
    async def dead_letters(request: Request, context: Context, operator: Operator) -> DeadLetterReport | Response:
        try:
            return _report(await waiting(request, context))
        except (KafkaError, TimeoutError) as exc:
            return _broker_away(exc)

    @router.get(
        "/ops/audit", summary="This service's event history checked: its hash chain recomputed (admin, regulator)"
    )
    async def audit(context: Context, inspector: Inspector) -> dict[str, Any]:
        """What `gmp-hub audit verify` prints for this service, for whoever holds no database
        access: an inspector's dossier records it."""
        from shared.audit import verify

        report = await verify(spec.name, context.settings.database_url(spec.name))
        broken = None if report.broken is None else str(report.broken)
        return {"service": spec.name, "checked": report.checked, "unchained": report.unchained,
                "ok": broken is None, "broken": broken, "summary": str(report)}  # fmt: skip

    @router.post(
        "/ops/dlq/replay",
        summary="Send this service's waiting dead letters back to their topics (admin)",
        response_model=DeadLetterReport,
    )
    async def replay_dead_letters(
        request: Request, context: Context, operator: Operator
    ) -> DeadLetterReport | Response:
        """What `gmp-hub dlq-replay` does for a whole topic, for the events this service's consumer
        dead-lettered: each once, unchanged, so its consumers apply it at most once. The answer lists
        them; they leave `GET /ops/dlq` once applied (one that fails again is dead-lettered again)."""
        try:
            async with replaying:
                letters = await waiting(request, context)
                async with asyncio.timeout(context.settings.kafka_request_timeout_seconds * 3):
                    producer = await context.broker.producer()
                    await send_back(producer, [r for records in letters.waiting.values() for r in records])
        except (KafkaError, TimeoutError) as exc:
            return _broker_away(exc)
        report = _report(letters, replayed_by=operator.actor)
        log.info(
            "%s replayed %d dead letter(s)",
            operator.actor,
            report.count,
            extra=log_fields(actor=operator.actor, replayed={t.topic: t.event_ids for t in report.topics if t.count}),
        )
        return report

    return router

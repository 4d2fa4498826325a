"""JSON logs carrying a correlation id, and the Prometheus metrics every service exports."""

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.tracing import span

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
# The person a request acts for, as the audit trail names them: (actor, display name); set on authentication.
acting_person: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("acting_person", default=None)
CORRELATION_HEADER = "x-correlation-id"
# A caller's correlation id is kept only when short and plain (it is echoed and logged); else a new one.
WELL_FORMED_CORRELATION_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,99}")

HTTP_REQUESTS = Counter("gmphub_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("gmphub_http_request_seconds", "HTTP request latency", ["service", "method", "route"])
# Replicas on one machine add up their metrics (`gmp-hub up`: Prometheus' multiprocess mode); of a
# gauge, the value last set by any of them counts.
OUTBOX_BACKLOG = Gauge(
    "gmphub_outbox_backlog", "Outbox events not yet published", ["service"], multiprocess_mode="mostrecent"
)
OUTBOX_PUBLISHED = Counter("gmphub_outbox_published_total", "Outbox events published", ["service"])
OUTBOX_REPLAYED = Counter(
    "gmphub_outbox_replayed_total", "Outbox events published again to a broker that lost them", ["service"]
)
CONSUMER_LAG = Gauge(
    "gmphub_consumer_lag",
    "Messages behind the partition end",
    ["service", "topic", "partition"],
    multiprocess_mode="mostrecent",
)
EVENTS_HANDLED = Counter("gmphub_events_handled_total", "Events consumed", ["service", "type", "outcome"])
# Sagas (a request to another service awaiting its answer) past their deadline: asked again, and
# those still unanswered after every allowed request (escalated, visible to their users).
SAGA_REQUESTS_RESENT = Counter("gmphub_saga_requests_resent_total", "Saga requests sent again", ["service"])
SAGAS_OVERDUE = Gauge(
    "gmphub_sagas_overdue", "Sagas unanswered after every allowed request", ["service"], multiprocess_mode="mostrecent"
)
DLQ_MESSAGES = Counter("gmphub_dlq_messages_total", "Events sent to a dead-letter topic", ["service", "topic"])


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if cid := correlation_id.get():
            entry["correlation_id"] = cid
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", as_json: bool = True, service: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service or ''} %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def log_fields(**fields: object) -> dict[str, dict[str, object]]:
    """`logger.info("...", extra=log_fields(event_id=...))` adds fields to the JSON line."""
    return {"fields": fields}


class RequestContextMiddleware:
    """Sets the correlation id for the request (a well-formed `X-Correlation-ID`, or new), echoes it, and
    records request count and latency by route template."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(CORRELATION_HEADER.encode(), b"")
        cid = given.decode() if WELL_FORMED_CORRELATION_ID.fullmatch(given) else str(uuid.uuid4())
        token = correlation_id.set(cid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((CORRELATION_HEADER.encode(), cid.encode()))
            await send(message)

        traceparent = headers.get(b"traceparent", b"").decode("latin-1") or None
        name = f"{scope['method']} {scope['path']}"
        try:
            with span(
                name, SpanKind.SERVER, traceparent=traceparent, attributes={"gmphub.service": self.service}
            ) as current:
                await self.app(scope, receive, send_with_id)
                current.update_name(f"{scope['method']} {getattr(scope.get('route'), 'path', scope['path'])}")
                current.set_attribute("http.response.status_code", status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, scope["method"], route).observe(time.perf_counter() - started)
            correlation_id.reset(token)

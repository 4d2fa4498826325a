"""Traces across every hop (OpenTelemetry): the HTTP request, the database calls, the outbox row,
the broker hop and the consumer's handling join one trace. The W3C `traceparent` travels inside
each event's envelope (the CloudEvents distributed-tracing extension), so a reply's handling is a
child of the request that started the saga.

Off and free unless an OTLP endpoint is set (`GMPHUB_OTEL_EXPORTER_OTLP_ENDPOINT` or the standard
`OTEL_EXPORTER_OTLP_ENDPOINT`): without a tracer provider every span below is the API's no-op."""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

tracer = trace.get_tracer("gmphub")
_w3c = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The W3C traceparent of the span now current, if one is being recorded."""
    carrier: dict[str, str] = {}
    _w3c.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span(
    name: str, kind: SpanKind, *, traceparent: str | None = None, attributes: Mapping[str, str] | None = None
) -> Iterator[Span]:
    """A span, the child of `traceparent` when one is given (an event's, a request's header),
    else of the current span."""
    parent = _w3c.extract({"traceparent": traceparent}) if traceparent else None
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes) as current:
        yield current


def configure_tracing(service: str, endpoint: str | None, engine: object) -> bool:
    """Export this process's spans over OTLP/HTTP when an endpoint is configured; instrument the
    service's database engine. Returns whether tracing is on."""
    standard = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not (endpoint or standard):
        return False
    # Imported only here: a hub that does not trace never loads the SDK.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"gmphub-{service}"}))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces") if endpoint else OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    SQLAlchemyInstrumentor().instrument(engine=getattr(engine, "sync_engine", engine), tracer_provider=provider)
    return True

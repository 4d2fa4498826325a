"""One booking's saga is one trace: the confirm request in scheduling, materials' handling of the
confirmation, and scheduling's handling of the reply, joined by the traceparent in each envelope."""

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.e2e.test_key_flows import booking_status, certified_facility, ok, publish_capacity, stock
from tests.support import eventually

pytestmark = pytest.mark.e2e
__all__ = ["certified_facility"]  # the fixture, used by name

spans = InMemorySpanExporter()


@pytest.fixture(scope="module")
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider (set once per process) records into memory from here on."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)
    yield spans
    spans.clear()  # the provider stays (it cannot be unset); what it recorded goes


async def test_confirm_reservation_and_reply_are_one_trace_across_both_services(
    recorded_spans, certified_facility, scheduling, materials, tokens
):
    facility_id, suite_id, _ = certified_facility
    slot_ids = await publish_capacity(scheduling, tokens, facility_id, suite_id, days=1)
    material_id = await stock(materials, tokens, facility_id, "100")
    hold = {"slot_ids": slot_ids, "product": "CAR-T CD19", "run_kind": "development",
            "material_needs": [{"material_id": material_id, "quantity": "10", "unit": "mL"}]}  # fmt: skip
    booking = await ok(await scheduling.client.post("/v1/bookings", json=hold, headers=tokens.developer()), 201)
    recorded_spans.clear()
    confirm_path = f"/v1/bookings/{booking['booking_id']}/confirm"
    await ok(await scheduling.client.post(confirm_path, headers=tokens.developer()))
    await booking_status(scheduling, tokens, booking["booking_id"], "confirmed")

    def named(name: str) -> ReadableSpan:  # ours: FastAPI adds spans of its own with the route's name
        return next(
            s for s in recorded_spans.get_finished_spans() if s.name == name and "gmphub.service" in s.attributes
        )

    def ancestors(span: ReadableSpan) -> set[int]:
        by_id = {s.context.span_id: s for s in recorded_spans.get_finished_spans()}
        found = set()
        while span.parent is not None and span.parent.span_id in by_id:
            found.add(span.parent.span_id)
            span = by_id[span.parent.span_id]
        return found

    async def reply_handled() -> ReadableSpan:
        return named("handle gmphub.materials.reservation.confirmed.v1")

    reply = await eventually(reply_handled)
    request = named("POST /v1/bookings/{booking_id}/confirm")
    reservation = named("handle gmphub.scheduling.booking.confirmed.v1")
    assert request.context.trace_id == reservation.context.trace_id == reply.context.trace_id
    assert request.context.span_id in ancestors(reservation)  # materials' work, caused by the request
    assert reply.parent.span_id == reservation.context.span_id  # the reply's handling, caused by materials
    services = [s.attributes["gmphub.service"] for s in (request, reservation, reply)]
    assert services == ["scheduling", "materials", "scheduling"]

"""Consumers own their contracts: every model a service keeps of another service's event (its
`inbound.py`) reads what the producer publishes, checked against the producer's AsyncAPI document
(what its `/asyncapi.json` serves). A producer change that would break a consumer fails here, and
so does a consumer that reads a field nobody sends."""

import importlib
import inspect
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest
from pydantic import BaseModel

from shared.asyncapi import asyncapi_document
from shared.events import InboundEvent, registry
from shared.settings import SERVICES
from tests.contracts import contract_problems

for _service in SERVICES:  # the producers: their events fill the registry the documents are built from
    importlib.import_module(f"services.{_service}.events")


def published_document(producer: str) -> dict:
    """What the producer's `/asyncapi.json` serves."""
    return asyncapi_document([producer], producer, "kafka:9092")


def inbound_models(service: str) -> list[type[InboundEvent]]:
    """The event models a service declares in its `inbound.py` (the ones with a type)."""
    return [
        cls
        for cls in vars(importlib.import_module(f"services.{service}.inbound")).values()
        if inspect.isclass(cls) and issubclass(cls, InboundEvent) and "type" in cls.__dict__
    ]


EVERY_INBOUND_MODEL = [
    pytest.param(cls, id=f"{service}:{cls.type}") for service in SERVICES for cls in inbound_models(service)
]


def test_the_services_that_follow_events_declare_what_they_read():
    assert {s for s in SERVICES if inbound_models(s)} == {"scheduling", "materials"}
    assert len(EVERY_INBOUND_MODEL) == 36


@pytest.mark.parametrize("model", EVERY_INBOUND_MODEL)
def test_each_inbound_model_reads_what_its_producer_publishes(model):
    problems = contract_problems(model, published_document(model.service()))
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_follows_only_its_own_models_of_other_services_events(service):
    """So the contract checks above cover everything it consumes."""
    settings = importlib.import_module(f"services.{service}.main").spec.settings()
    handlers = importlib.import_module(f"services.{service}.consumers").follows(settings)
    own = set(inbound_models(service))
    for cls in handlers:
        assert cls in own, f"{service} follows {cls.__module__}.{cls.__qualname__}, not a model of its inbound.py"
        assert cls.service() != service, f"{service} models its own event {cls.type}"
    assert own <= set(handlers), (
        f"{service} models events it does not follow: {sorted(c.type for c in own - set(handlers))}"
    )


def test_two_consumers_may_model_one_event_without_registering_it():
    class MyView(InboundEvent):
        type = "gmphub.scheduling.booking.confirmed.v1"
        booking_id: UUID

    assert registry[MyView.type] is not MyView
    assert (MyView.service(), MyView.topic()) == ("scheduling", "gmphub.scheduling.v1")
    event = MyView.model_validate({"booking_id": str(UUID(int=1)), "booking": {"anything": 1}})
    assert event == MyView(booking_id=UUID(int=1))  # what it does not read is ignored


def test_a_misnamed_inbound_type_is_refused_at_declaration():
    with pytest.raises(ValueError, match="gmphub.<service>"):

        class Misnamed(InboundEvent):
            type = "scheduling.booking.confirmed"


def test_every_published_event_read_in_full_passes_the_checker():
    """The checker has no false alarms: the producer's own classes read their own schema."""
    for event_type, cls in registry.items():
        assert contract_problems(cls, published_document(cls.service())) == [], event_type


# --- the checker fails a model that would misread -------------------------------------------------


class Need(BaseModel):
    material_id: UUID
    quantity: float  # the producer sends a decimal: a number or a string


class WrongBooking(BaseModel):
    version: str  # an integer in the producer
    starts_at: date  # a date-time in the producer
    approval_id: UUID  # optional in the producer (null by default)
    sterile_room: str  # not in the producer's payload at all
    material_needs: list[Need]  # required here: fine, the producer always sends it (default [])
    slot_ids: list[int]  # uuids in the producer


class WrongBookingConfirmed(InboundEvent):
    type = "gmphub.scheduling.booking.confirmed.v1"
    booking_id: UUID
    booking: WrongBooking
    attempt: int | None = None  # fine: the producer always sends an integer


def test_the_checker_names_every_field_a_wrong_model_would_misread():
    problems = contract_problems(WrongBookingConfirmed, published_document("scheduling"))
    print("\n".join(problems))
    prefix = "gmphub.scheduling.booking.confirmed.v1: data.booking."
    assert sorted(problems) == sorted(
        prefix + p
        for p in (
            "version: the producer may send integer; this model reads string",
            "starts_at: the producer may send string (date-time); this model reads string (date)",
            "approval_id: required here, but optional in the producer (give it a default here)",
            "approval_id: the producer may send null; this model reads string (uuid)",
            "sterile_room: read here, but the producer's payload has no such field",
            "material_needs[].quantity: the producer may send string; this model reads number",
            "slot_ids[]: the producer may send string (uuid); this model reads integer",
        )
    )


def test_a_required_field_the_producer_makes_optional_is_refused():
    class Certificate(BaseModel):
        certificate_id: UUID
        reason: str  # `str | None = None` in the producer

    class Suspended(InboundEvent):
        type = "gmphub.registry.certificate.suspended.v1"
        certificate: Certificate

    prefix = "gmphub.registry.certificate.suspended.v1: data.certificate.reason: "
    assert contract_problems(Suspended, published_document("registry")) == [
        prefix + "required here, but optional in the producer (give it a default here)",
        prefix + "the producer may send null; this model reads string",
    ]

    class Tolerant(BaseModel):
        certificate_id: UUID
        reason: str | None = None

    class TolerantSuspended(InboundEvent):
        type = "gmphub.registry.certificate.suspended.v1"
        certificate: Tolerant

    assert contract_problems(TolerantSuspended, published_document("registry")) == []


def test_an_event_the_producer_does_not_publish_is_refused():
    class Teleported(InboundEvent):
        type = "gmphub.scheduling.booking.teleported.v1"
        booking_id: UUID

    [problem] = contract_problems(Teleported, published_document("scheduling"))
    assert problem == (
        "gmphub.scheduling.booking.teleported.v1: not in the producer's AsyncAPI document (the producer publishes "
        "no such event)"
    )


def test_a_number_reads_an_integer_and_a_decimal_reads_a_decimal():
    class Line(BaseModel):
        quantity: Decimal

    class Shortfall(BaseModel):
        requested: Decimal
        available: Decimal

    class Failed(InboundEvent):
        type = "gmphub.materials.reservation.failed.v1"
        shortfalls: list[Shortfall]

    class Expired(InboundEvent):
        type = "gmphub.materials.lot.expired.v1"
        version: float  # an integer in the producer: any integer is a number
        holds: list[Line]

    assert contract_problems(Failed, published_document("materials")) == []
    assert contract_problems(Expired, published_document("materials")) == []

"""The event contract: names, envelope, registry and the AsyncAPI document built from it."""

import uuid

import pytest

import services.approvals.events
import services.materials.events
import services.registry.events
import services.scheduling.events  # noqa: F401 - registers every service's events
from services.registry.events import FacilityRegistered, FacilityState
from shared.asyncapi import asyncapi_document
from shared.events import Envelope, Event, registry
from shared.settings import SERVICES


def registered() -> FacilityRegistered:
    facility_id = uuid.uuid4()
    state = FacilityState(facility_id=facility_id, version=1, legal_name="Unit", kind="hospital", country="DE",
                          city="Berlin", address="x", contact_email="a@b.eu", authorisation_number="1",
                          authorisation_authority="DE-LAGeSo")  # fmt: skip
    return FacilityRegistered(facility_id=facility_id, version=1, facility=state)


def test_every_event_type_follows_the_naming_of_the_design():
    for event_type, cls in registry.items():
        prefix, service, _aggregate, _verb, version = event_type.split(".")
        assert (prefix, service in SERVICES, version[0], version[1:].isdigit()) == ("gmphub", True, "v", True)
        assert cls.topic() == f"gmphub.{service}.v1"


def test_a_misnamed_event_type_is_refused_at_declaration():
    with pytest.raises(ValueError, match="gmphub.<service>"):

        class Misnamed(Event):
            type = "registry.facility.registered"
            aggregate_field = "x"


def test_the_envelope_is_cloudevents_with_correlation_causation_and_actor():
    event = registered()
    envelope = Envelope.wrap(event, actor="admin:ops", correlation_id="req-1", causation_id="evt-0")
    body = envelope.model_dump(mode="json")
    assert body["specversion"] == "1.0"
    assert body["source"] == "/gmphub/registry"
    assert body["type"] == "gmphub.registry.facility.registered.v1"
    assert body["subject"] == str(event.facility_id)
    assert (body["correlationid"], body["causationid"], body["actor"]) == ("req-1", "evt-0", "admin:ops")
    assert Envelope.model_validate(body).payload() == event


def test_the_asyncapi_document_lists_each_topic_and_every_message():
    document = asyncapi_document(list(SERVICES), "hub", "kafka:9092")
    assert document["asyncapi"] == "3.0.0"
    assert {c["address"] for c in document["channels"].values()} == {f"gmphub.{s}.v1" for s in SERVICES}
    names = {m["name"] for m in document["components"]["messages"].values()}
    assert names == set(registry)
    facility = document["components"]["schemas"]["FacilityRegistered"]
    assert {"facility_id", "version", "facility"} <= set(facility["properties"])


def test_an_envelope_names_the_person_acting_only_for_their_own_unit_of_work():
    from shared.database import UnitOfWork
    from shared.observability import acting_person

    token = acting_person.set(("regulator:inspector-1", "Dr. Ada Weber"))
    try:
        theirs = UnitOfWork(None, actor="regulator:inspector-1")  # emitting needs no session
        a_service = UnitOfWork(None, actor="service:registry-certificate-expiry")
        for uow in (theirs, a_service):
            uow.emit(registered())
    finally:
        acting_person.reset(token)
    [(mine, _)], [(service, _)] = theirs._pending, a_service._pending
    assert (mine.actor, mine.actorname) == ("regulator:inspector-1", "Dr. Ada Weber")
    assert (service.actor, service.actorname) == ("service:registry-certificate-expiry", None)

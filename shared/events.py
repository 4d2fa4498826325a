"""The event contract: CloudEvents 1.0 envelope, versioned payload schemas and their registry.

A service declares what it publishes as subclasses of `Event`; each class names its CloudEvents
type (`gmphub.<service>.<aggregate>.<verb>.v<N>`), so the registry below is the one list of what
is published, and the AsyncAPI document is read from it. A breaking change is a new class with a
new version, never an edit.

A service that follows another's events never imports its code: it keeps its own models of them
in its `inbound.py`, subclasses of `InboundEvent` with only the fields it reads, and tests check
each against the producer's AsyncAPI document.
"""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

registry: dict[str, type["Event"]] = {}


def topic_of(service: str) -> str:
    return f"gmphub.{service}.v1"


def _check_type(event_type: str) -> None:
    parts = event_type.split(".")
    if len(parts) != 5 or parts[0] != "gmphub" or not parts[4].startswith("v"):
        raise ValueError(f"event type {event_type!r} is not gmphub.<service>.<aggregate>.<verb>.v<N>")


class Event(BaseModel):
    """Payload (`data`) of one event type. Subclasses set `type` and `aggregate_field`."""

    model_config = ConfigDict(frozen=True)

    type: ClassVar[str]
    aggregate_field: ClassVar[str]  # the payload field whose value keys the Kafka message

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("type")
        if event_type is None:
            return
        _check_type(event_type)
        if event_type in registry and registry[event_type] is not cls:
            raise ValueError(f"event type {event_type!r} is declared twice")
        registry[event_type] = cls

    @classmethod
    def service(cls) -> str:
        return cls.type.split(".")[1]

    @classmethod
    def topic(cls) -> str:
        return topic_of(cls.service())

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_field))


class InboundEvent(BaseModel):
    """A consumer's own model of an event another service publishes: the producer's `type`, and
    only the fields the consumer reads (fields it does not know are ignored). It is not registered:
    the registry lists what is published, and several consumers may model the same type."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("type")
        if event_type is not None:
            _check_type(event_type)

    @classmethod
    def service(cls) -> str:
        """The service that publishes it."""
        return cls.type.split(".")[1]

    @classmethod
    def topic(cls) -> str:
        return topic_of(cls.service())


class Envelope(BaseModel):
    """CloudEvents 1.0 structured-mode envelope with correlation and causation extensions."""

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    correlationid: str | None = None
    causationid: str | None = None
    actor: str | None = None  # who caused it: `<role>:<sub>`; the audit trail's "who"
    actorname: str | None = None  # the person's display name (the token's `name`, else its subject); none for a service
    traceparent: str | None = None  # W3C trace context (CloudEvents distributed-tracing extension)
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        event: Event,
        *,
        actor: str | None,
        correlation_id: str | None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        actor_name: str | None = None,
    ) -> "Envelope":
        return cls(
            source=f"/gmphub/{event.service()}",
            type=event.type,
            subject=event.aggregate_id,
            correlationid=correlation_id,
            causationid=causation_id,
            actor=actor,
            actorname=actor_name,
            traceparent=traceparent,
            data=event.model_dump(mode="json"),
        )

    def payload(self) -> Event:
        """The typed payload; raises KeyError for a type no schema is registered for."""
        return registry[self.type].model_validate(self.data)


class ChainAnchored(Event):
    """The head of a service's event-history hash chain (shared/chain.py): its position and hash
    at a moment. Each service declares its `gmphub.<service>.audit.anchored.v1` on it; shared/audit.py
    emits it."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)
    aggregate_field = "service_name"
    # `service` on the wire; a field of that name would hide Event.service().
    service_name: str = Field(alias="service")
    chain_seq: int  # the chain's last position when anchored
    chain_hash: str  # its SHA-256, hex
    anchored_at: datetime

"""An AsyncAPI 3.0 document generated from the event registry."""

from typing import Any

from pydantic.json_schema import models_json_schema

from shared.events import Envelope, Event, registry, topic_of


def _message_name(event_type: str) -> str:
    return event_type.removeprefix("gmphub.").replace(".", "_")


def asyncapi_document(services: list[str], title: str, bootstrap_servers: str) -> dict[str, Any]:
    """Describe the topics of `services` and every event type published on them."""
    events: list[type[Event]] = [cls for t, cls in sorted(registry.items()) if cls.service() in services]
    _, defs = models_json_schema([(cls, "validation") for cls in events], ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Envelope"] = Envelope.model_json_schema(ref_template="#/components/schemas/{model}")

    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for service in services:
        topic = topic_of(service)
        names = [_message_name(cls.type) for cls in events if cls.service() == service]
        channels[service] = {
            "address": topic,
            "description": f"Events published by the {service} service, keyed by aggregate id.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        }
        operations[f"publish_{service}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{service}"},
            "messages": [{"$ref": f"#/channels/{service}/messages/{name}"} for name in names],
        }
    for cls in events:
        name = _message_name(cls.type)
        messages[name] = {
            "name": cls.type,
            "title": cls.__name__,
            "summary": (cls.__doc__ or "").strip().split("\n")[0],
            "contentType": "application/cloudevents+json",
            "headers": {"type": "object", "properties": {"ce_type": {"const": cls.type}}},
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": cls.type},
                            "data": {"$ref": f"#/components/schemas/{cls.__name__}"},
                        },
                    },
                ]
            },
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": "1.0.0",
            "description": "CloudEvents 1.0 (structured JSON) on Kafka; Kafka key = aggregate id.",
        },
        "servers": {"kafka": {"host": bootstrap_servers, "protocol": "kafka"}},
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }

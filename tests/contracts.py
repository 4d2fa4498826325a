"""Consumer contracts: a consumer's own model of another service's event (a class in its
`inbound.py`) checked against the JSON Schema the producer publishes for it, in its AsyncAPI
document (what `/asyncapi.json` serves).

The model is the reader, the producer's schema the writer. The reader is compatible when
- the writer's document has the event type, on the topic the reader follows;
- every field the reader declares is in the writer's payload (nested objects and array items too);
- every field the reader requires is required by the writer, or always sent with a value (the hub
  writes every field of an event: `Envelope.wrap` dumps them all, so a field with a non-null
  default is always there; one whose default is null is optional);
- whatever JSON the writer may send in a field, the reader accepts: the same type (an integer
  where a number is read), the same string format (uuid, date, date-time), null only where the
  reader takes null.

`contract_problems` returns every incompatibility, each naming the field's path in the payload."""

from typing import Any

from pydantic import BaseModel

Schema = dict[str, Any]


class _Side:
    """One JSON Schema document, so that `$ref`s resolve against their own root."""

    def __init__(self, root: Schema) -> None:
        self.root = root

    def resolve(self, node: Schema) -> Schema:
        seen = set()
        while "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                raise ValueError(f"cannot resolve $ref {ref!r}")
            seen.add(ref)
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def alternatives(self, node: Schema) -> list[Schema]:
        """The shapes a value may take: `anyOf`/`oneOf` branches, one per listed type."""
        node = self.resolve(node)
        for key in ("anyOf", "oneOf"):
            if key in node:
                return [alt for branch in node[key] for alt in self.alternatives(branch)]
        if "allOf" in node:
            if len(node["allOf"]) != 1:
                raise ValueError(f"cannot compare an allOf of {len(node['allOf'])} schemas")
            return self.alternatives(node["allOf"][0])
        if isinstance(node.get("type"), list):
            return [{**node, "type": t} for t in node["type"]]
        if "type" not in node and "const" in node:
            return [{**node, "type": _json_type(node["const"])}]
        return [node]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def _describe(alt: Schema) -> str:
    kind = alt.get("type", "anything")
    details = [alt[k] for k in ("format", "pattern") if k in alt]
    if "enum" in alt or "const" in alt:
        details.append(f"one of {alt.get('enum', [alt.get('const')])}")
    return f"{kind} ({', '.join(map(str, details))})" if details else kind


def _values(alt: Schema) -> list[Any] | None:
    if "enum" in alt:
        return list(alt["enum"])
    if "const" in alt:
        return [alt["const"]]
    return None


def _accepts(reader: Schema, writer: Schema) -> bool:
    """Whether a value the writer's alternative describes passes the reader's (structure aside)."""
    r_kind, w_kind = reader.get("type"), writer.get("type")
    if r_kind is None:
        return True  # the reader takes anything
    if w_kind is None:
        return False  # the writer promises nothing
    if not (r_kind == w_kind or (r_kind == "number" and w_kind == "integer")):
        return False
    for key in ("format", "pattern"):
        if key in reader and reader[key] != writer.get(key):
            return False
    allowed, sent = _values(reader), _values(writer)
    return allowed is None or (sent is not None and set(map(repr, sent)) <= set(map(repr, allowed)))


class _Check:
    def __init__(self, reader: _Side, writer: _Side) -> None:
        self.reader, self.writer = reader, writer
        self.problems: list[str] = []

    def value(self, path: str, reader_node: Schema, writer_node: Schema) -> None:
        readers = self.reader.alternatives(reader_node)
        for sent in self.writer.alternatives(writer_node):
            match = next((r for r in readers if _accepts(r, sent)), None)
            if match is None:
                accepted = " or ".join(_describe(r) for r in readers)
                self.problems.append(f"{path}: the producer may send {_describe(sent)}; this model reads {accepted}")
            elif match.get("type") == "object" and sent.get("type") == "object":
                self.fields(path, match, sent)
            elif match.get("type") == "array" and sent.get("type") == "array":
                self.value(f"{path}[]", match.get("items", {}), sent.get("items", {}))

    def fields(self, path: str, reader: Schema, writer: Schema) -> None:
        written, required = writer.get("properties", {}), set(writer.get("required", []))
        for name, read in reader.get("properties", {}).items():
            where = f"{path}.{name}"
            if name not in written:
                self.problems.append(f"{where}: read here, but the producer's payload has no such field")
                continue
            always_sent = name in required or written[name].get("default") is not None
            if name in reader.get("required", []) and not always_sent:
                self.problems.append(f"{where}: required here, but optional in the producer (give it a default here)")
            self.value(where, read, written[name])
        extra = reader.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            self.value(f"{path}{{}}", extra, writer.get("additionalProperties") or {})


def published(document: Schema, event_type: str) -> tuple[str, Schema] | None:
    """The topic and the `data` schema of `event_type` in an AsyncAPI document, if it is there."""
    for channel in document["channels"].values():
        for ref in channel["messages"].values():
            message = _Side(document).resolve(ref)
            if message["name"] == event_type:
                data = next(
                    p["properties"]["data"] for p in message["payload"]["allOf"] if "data" in p.get("properties", {})
                )
                return channel["address"], data
    return None


def contract_problems(model: type[BaseModel], document: Schema) -> list[str]:
    """Every way `model` (a consumer's view of an event: `type`, `topic()` and its fields) would
    misread what the producer of `document` publishes; empty when it reads it correctly."""
    event_type: str = model.type  # type: ignore[attr-defined]
    found = published(document, event_type)
    if found is None:
        return [f"{event_type}: not in the producer's AsyncAPI document (the producer publishes no such event)"]
    topic, data = found
    problems = []
    if topic != model.topic():  # type: ignore[attr-defined]
        problems.append(f"{event_type}: published on {topic}, but this model follows {model.topic()}")  # type: ignore[attr-defined]
    reader = model.model_json_schema(mode="validation")
    check = _Check(_Side(reader), _Side(document))
    check.value("data", reader, data)
    return problems + [f"{event_type}: {problem}" for problem in check.problems]

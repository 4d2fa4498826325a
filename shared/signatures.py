"""What binds an electronic signature to its record: the SHA-256 of the signed state's canonical
JSON (keys sorted, no spaces, UTF-8), kept with the signature. Anyone holding the state as the API
or the event gives it recomputes the same hash; a later change to that state no longer matches."""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel


def canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def state_sha256(state: BaseModel | Mapping[str, Any]) -> str:
    """The hex SHA-256 of the state as JSON (a model as it is serialised in answers and events)."""
    plain = state.model_dump(mode="json") if isinstance(state, BaseModel) else state
    return hashlib.sha256(canonical_json(plain)).hexdigest()

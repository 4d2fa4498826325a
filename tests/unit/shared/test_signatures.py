"""The hash that binds a signature to the state it signed."""

import hashlib
from datetime import date
from uuid import UUID

from pydantic import BaseModel

from shared.signatures import canonical_json, state_sha256


class State(BaseModel):
    state_id: UUID
    status: str
    until: date
    reason: str | None = None


STATE = State(state_id=UUID(int=7), status="suspended", until=date(2027, 1, 31), reason="Stérilité")


def test_the_canonical_json_sorts_keys_drops_spaces_and_keeps_utf8():
    assert canonical_json({"b": 1, "a": ["x", None]}) == b'{"a":["x",null],"b":1}'
    assert canonical_json({"r": "é"}) == '{"r":"é"}'.encode()


def test_a_model_hashes_as_its_json_does_whatever_the_key_order():
    as_json = STATE.model_dump(mode="json")
    reordered = dict(reversed(list(as_json.items())))
    expected = hashlib.sha256(canonical_json(as_json)).hexdigest()
    assert state_sha256(STATE) == state_sha256(as_json) == state_sha256(reordered) == expected
    assert len(expected) == 64


def test_any_change_to_the_state_changes_the_hash():
    assert state_sha256(STATE) != state_sha256(STATE.model_copy(update={"reason": "Sterilite"}))
    assert state_sha256(STATE) != state_sha256(STATE.model_copy(update={"until": date(2027, 2, 1)}))

"""The event history's hash chain: the canonical envelope, the links, and the walk that finds the
first broken row (what a superuser's change, deletion or insertion leaves, and a chain rewritten
whole against its anchors)."""

import hashlib
import json

import pytest

from shared.chain import GENESIS, Anchor, ChainRow, ChainWalk, canonical, link, links


def envelope(n: int) -> str:
    return json.dumps({"type": "gmphub.registry.facility.updated.v1", "id": f"event-{n}", "data": {"version": n}})


def chain(count: int) -> list[ChainRow]:
    rows, previous = [], GENESIS
    for n in range(1, count + 1):
        previous = link(previous, envelope(n))
        rows.append(ChainRow(n, 10 + n, f"event-{n}", envelope(n), previous))
    return rows


def walk(rows: list[ChainRow], anchors: list[Anchor] = ()) -> ChainWalk:
    walker = ChainWalk(anchors)
    for row in rows:
        if not walker.feed(row):
            break
    walker.finish()
    return walker


def test_the_canonical_envelope_sorts_keys_drops_whitespace_and_is_utf8():
    stored = '{"z": 1, "a": {"é": "Charité", "b": [1, 2.5, null, true]}}'
    assert canonical(stored) == '{"a":{"b":[1,2.5,null,true],"é":"Charité"},"z":1}'.encode()
    assert canonical(stored) == canonical('{"a":{"b":[1,2.5,null,true],"é":"Charité"},"z":1}')  # key order, spaces


def test_a_link_is_the_sha256_of_the_previous_hash_and_the_canonical_envelope():
    first = link(GENESIS, '{"b": 2, "a": 1}')
    assert first == hashlib.sha256(bytes(32) + b'{"a":1,"b":2}').digest()
    assert link(first, '{"a": 1}') == hashlib.sha256(first + b'{"a":1}').digest()


def test_links_continue_from_the_head_in_the_order_given():
    head_hash = link(GENESIS, envelope(1))
    chained = links((1, head_hash), [(7, envelope(2)), (5, envelope(3))])
    assert chained["seqs"] == [7, 5]  # commit order, not seq order
    assert chained["positions"] == [2, 3]
    assert chained["hashes"] == [row.chain_hash for row in chain(3)[1:]]
    assert links(None, [(1, envelope(1))])["hashes"] == [head_hash]


def test_a_sound_chain_is_walked_to_its_end():
    walker = walk(chain(5))
    assert (walker.checked, walker.broken) == (5, None)


def test_a_changed_envelope_is_named_with_its_stored_and_recomputed_hash():
    rows = chain(5)
    changed = rows[2].envelope.replace('"version": 3', '"version": 30')
    rows[2] = ChainRow(3, 13, "event-3", changed, rows[2].chain_hash)
    broken = walk(rows).broken
    assert (broken.chain_seq, broken.seq, broken.event_id) == (3, 13, "event-3")
    assert (
        f"stored hash {rows[2].chain_hash.hex()}, recomputed {link(rows[1].chain_hash, changed).hex()}" in broken.what
    )
    assert "envelope was changed after it was chained" in broken.what


def test_a_changed_last_row_is_named_too():
    rows = chain(3)
    rows[2] = ChainRow(3, 13, "event-3", envelope(99), rows[2].chain_hash)
    assert walk(rows).broken.chain_seq == 3


def test_a_deleted_row_leaves_a_gap():
    rows = chain(5)
    del rows[1]
    walker = walk(rows)
    assert (walker.broken.chain_seq, walker.broken.event_id) == (3, "event-3")
    assert "a gap: chain_seq 2..2 missing (1 row(s) deleted)" in walker.broken.what
    assert walker.checked == 1


def test_a_deleted_row_with_the_chain_renumbered_breaks_the_next_row():
    rows = chain(5)
    del rows[1]
    rows = [ChainRow(n, r.seq, r.event_id, r.envelope, r.chain_hash) for n, r in enumerate(rows, start=1)]
    broken = walk(rows).broken
    assert (broken.chain_seq, broken.event_id) == (2, "event-3")
    assert "or the row before it removed" in broken.what


def test_an_inserted_row_with_a_made_up_hash_is_named_inserted():
    rows = chain(4)
    forged = ChainRow(3, 99, "forged", envelope(42), bytes(32))
    rows = rows[:2] + [forged] + [ChainRow(n + 1, r.seq, r.event_id, r.envelope, r.chain_hash) for n, r in
                                  ((r.chain_seq, r) for r in rows[2:])]  # fmt: skip
    broken = walk(rows).broken
    assert (broken.chain_seq, broken.seq, broken.event_id) == (3, 99, "forged")
    assert broken.what.startswith("inserted: not part of the chain")


def test_an_inserted_row_whose_own_hash_was_computed_is_named_inserted():
    rows = chain(4)
    forged = ChainRow(3, 99, "forged", envelope(42), link(rows[1].chain_hash, envelope(42)))
    rows = (
        rows[:2] + [forged] + [ChainRow(r.chain_seq + 1, r.seq, r.event_id, r.envelope, r.chain_hash) for r in rows[2:]]
    )
    broken = walk(rows).broken
    assert (broken.chain_seq, broken.event_id) == (3, "forged")
    assert "chain_seq 4 after it chains onto the row before it" in broken.what


def rewritten(rows: list[ChainRow], at: int) -> list[ChainRow]:
    """The chain with row `at` changed and every hash from it on recomputed: consistent in itself."""
    out, previous = [], GENESIS
    for row in rows:
        text = envelope(1000 + row.chain_seq) if row.chain_seq == at else row.envelope
        previous = link(previous, text)
        out.append(ChainRow(row.chain_seq, row.seq, row.event_id, text, previous))
    return out


def anchor_at(rows: list[ChainRow], position: int) -> Anchor:
    return Anchor("registry", position, rows[position - 1].chain_hash.hex(), f"2026-11-29T1{position}:00:00Z")


def test_a_chain_rewritten_whole_passes_alone_and_fails_its_anchors_at_their_position():
    rows = chain(8)
    anchors = [anchor_at(rows, 2), anchor_at(rows, 6)]
    forged = rewritten(rows, at=4)
    assert walk(forged).broken is None  # every hash recomputed: nothing inside tells
    walker = walk(forged, anchors)
    assert walker.anchors_checked == 2
    assert walker.broken.chain_seq == 6
    assert "the anchor of 2026-11-29T16:00:00Z holds" in walker.broken.what
    assert "rewritten between chain_seq 3 and here" in walker.broken.what
    assert walk(rows, anchors).broken is None


def test_an_anchor_beyond_the_end_says_rows_were_removed_from_the_end():
    rows = chain(6)
    walker = walk(rows[:4], [anchor_at(rows, 6)])
    assert walker.broken.chain_seq == 6
    assert str(walker.broken).startswith(
        "chain_seq 6 (no such row): the anchor of 2026-11-29T16:00:00Z is at chain_seq 6,"
    )
    assert "beyond the chain's end at 4" in walker.broken.what
    assert "beyond the chain's end at 0" in walk([], [anchor_at(rows, 6)]).broken.what  # a chain wiped whole


@pytest.mark.parametrize(
    "record",
    [
        {"service": "registry", "chain_seq": 3, "chain_hash": "ab", "anchored_at": "t"},
        {"type": "gmphub.registry.audit.anchored.v1", "data": {"service": "registry", "chain_seq": 3,
                                                                "chain_hash": "ab", "anchored_at": "t"}},
        {"offset": 7, "value": {"data": {"service": "registry", "chain_seq": "3", "chain_hash": "ab", "anchored_at": "t"}}},
    ],
)  # fmt: skip
def test_an_anchor_is_read_from_its_payload_its_event_or_a_tail_line(record):
    assert Anchor.of(record) == Anchor("registry", 3, "ab", "t")

"""The hash chain over a service's event history (its outbox rows), and the walk that checks it.

Each chained row holds its position `chain_seq` (1, 2, 3 … without gaps) and

    chain_hash(n) = SHA-256( chain_hash(n-1) || canonical(envelope(n)) ),   chain_hash(0) = 32 zero bytes

where `||` joins bytes and `canonical(envelope)` is the row's stored `envelope` (jsonb) read back
as text, parsed as JSON and written again with the keys of every object sorted by code point, no
whitespace (separators `,` and `:`), non-ASCII characters as themselves, encoded as UTF-8; numbers
as Python's `json` module writes what it parsed (integers exactly, other numbers as the shortest
text of their double). In Python: `json.dumps(json.loads(text), sort_keys=True,
separators=(",", ":"), ensure_ascii=False).encode()`.

Rows are inserted unchained (a writer takes no lock for the chain); the chain job
(shared/audit.py) then chains what has committed, in the order it sees the rows committed: a row's
`chain_seq` is that order, not its `seq` (a lower seq can commit later). Whoever extends the chain
holds `CHAIN_LOCK` for its transaction, so replicas take turns. A trigger (shared/migrations.py
`chain_outbox`) refuses to change a row's envelope or identity, to rechain a chained row, and to
delete one; what a superuser does with the trigger set aside, `ChainWalk` finds, and a chain
rewritten whole (every hash recomputed) is caught by the anchors published outside the database
(shared/audit.py).
"""

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

GENESIS = bytes(32)  # the hash before the first row

CHAIN_LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtext('gmphub-outbox-chain'))")
HEAD = sa.text("SELECT chain_seq, chain_hash FROM outbox WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1")
UNCHAINED = sa.text(
    "SELECT seq, envelope::text AS envelope FROM outbox WHERE chain_seq IS NULL ORDER BY seq LIMIT :limit"
)
LINK = sa.text(
    "UPDATE outbox SET chain_seq = l.chain_seq, chain_hash = l.chain_hash"
    " FROM unnest(CAST(:seqs AS bigint[]), CAST(:positions AS bigint[]), CAST(:hashes AS bytea[]))"
    " AS l(seq, chain_seq, chain_hash) WHERE outbox.seq = l.seq"
)
CHAINED_PER_STATEMENT = 10_000


def canonical(envelope: str) -> bytes:
    """The bytes of an envelope the chain hashes (module docstring), from its stored JSON text."""
    return json.dumps(json.loads(envelope), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(previous: bytes, envelope: str) -> bytes:
    """The chain hash of a row whose predecessor's chain hash is `previous`."""
    return hashlib.sha256(previous + canonical(envelope)).digest()


def links(head: tuple[int, bytes] | None, rows: Iterable[tuple[int, str]]) -> dict[str, list[Any]]:
    """`LINK`'s parameters chaining `rows` (seq, envelope text) after `head` (chain_seq, chain_hash)."""
    position, previous = head or (0, GENESIS)
    chained: dict[str, list[Any]] = {"seqs": [], "positions": [], "hashes": []}
    for seq, envelope in rows:
        position, previous = position + 1, link(previous, envelope)
        chained["seqs"].append(seq)
        chained["positions"].append(position)
        chained["hashes"].append(previous)
    return chained


async def extend_chain(session: AsyncSession, limit: int = CHAINED_PER_STATEMENT) -> int:
    """Chain up to `limit` committed unchained rows, oldest seq first, inside the session's
    transaction (its commit publishes the links); return how many."""
    await session.execute(CHAIN_LOCK)
    rows = (await session.execute(UNCHAINED, {"limit": limit})).all()
    if not rows:
        return 0
    head = (await session.execute(HEAD)).first()
    await session.execute(LINK, links(head and (head.chain_seq, head.chain_hash), rows))
    return len(rows)


def chain_all(connection: sa.Connection) -> int:
    """`extend_chain` until nothing is left, on a synchronous connection (a migration's)."""
    connection.execute(CHAIN_LOCK)
    total = 0
    while rows := connection.execute(UNCHAINED, {"limit": CHAINED_PER_STATEMENT}).all():
        head = connection.execute(HEAD).first()
        connection.execute(LINK, links(head and (head.chain_seq, head.chain_hash), rows))
        total += len(rows)
    return total


@dataclass(frozen=True)
class ChainRow:
    chain_seq: int
    seq: int
    event_id: str
    envelope: str  # the stored jsonb as text
    chain_hash: bytes


@dataclass(frozen=True)
class Anchor:
    """A chain head a service published (`gmphub.<service>.audit.anchored.v1`'s payload)."""

    service: str
    chain_seq: int
    chain_hash: str  # hex
    anchored_at: str

    @classmethod
    def of(cls, record: dict[str, Any]) -> "Anchor":
        """From the payload, the CloudEvent holding it, or `gmp-hub tail --json`'s line holding that."""
        record = record.get("value", record)
        record = record.get("data", record)
        return cls(record["service"], int(record["chain_seq"]), record["chain_hash"], str(record["anchored_at"]))


@dataclass(frozen=True)
class Break:
    """The first row where the chain does not hold, and what differs."""

    chain_seq: int
    seq: int
    event_id: str
    what: str

    def __str__(self) -> str:
        row = f"seq {self.seq}, event {self.event_id}" if self.event_id else "no such row"
        return f"chain_seq {self.chain_seq} ({row}): {self.what}"


@dataclass
class ChainWalk:
    """Recomputes a chain fed row by row in `chain_seq` order and stops at the first break: a gap
    in the positions, a stored hash that is not the recomputed one (saying, where the next rows
    tell, whether the row was inserted, or changed or a row before it removed), or an anchor whose
    hash is not the chain's at its position (a chain rewritten whole) or beyond the chain's end."""

    anchors: Sequence[Anchor] = ()
    checked: int = 0
    anchors_checked: int = 0
    broken: Break | None = None
    _due: dict[int, list[Anchor]] = field(default_factory=dict)
    _last: ChainRow | None = None
    _hashes: tuple[bytes, bytes] = (GENESIS, GENESIS)  # the last two good rows' hashes, older first
    _suspect: tuple[ChainRow, bytes] | None = None  # a mismatch waiting for the next row to say more
    _anchored: int = 0  # the last position an anchor confirmed

    def __post_init__(self) -> None:
        for anchor in self.anchors:
            self._due.setdefault(anchor.chain_seq, []).append(anchor)

    def feed(self, row: ChainRow) -> bool:
        """Check one more row; False once the chain is broken (the walk is over)."""
        if self._suspect is not None:
            self._diagnose(*self._suspect, row)
            return False
        expected = self._last.chain_seq + 1 if self._last else 1
        if row.chain_seq != expected:
            missing = row.chain_seq - expected
            self.broken = _break(
                row,
                f"a gap: chain_seq {expected}..{row.chain_seq - 1} missing ({missing} row(s) deleted)"
                if missing > 0
                else f"chain_seq {row.chain_seq} where {expected} was due",
            )
            return False
        before, previous = self._hashes
        recomputed = link(previous, row.envelope)
        if recomputed != row.chain_hash:
            if self._last is not None and row.chain_hash == link(before, row.envelope):
                self.broken = _break(
                    self._last,
                    f"inserted: not part of the chain (chain_seq {row.chain_seq} after it chains onto the row before it)",
                )
                return False
            self._suspect = (row, recomputed)
            return True
        for anchor in self._due.pop(row.chain_seq, []):
            self.anchors_checked += 1
            if anchor.chain_hash != recomputed.hex():
                self.broken = _break(
                    row,
                    f"the anchor of {anchor.anchored_at} holds {anchor.chain_hash} at this position, the chain "
                    f"{recomputed.hex()}: the chain was rewritten between chain_seq {self._anchored + 1} and here",
                )
                return False
            self._anchored = row.chain_seq
        self._last, self._hashes = row, (previous, recomputed)
        self.checked += 1
        return True

    def finish(self) -> Break | None:
        """After the last row: the break found, if any."""
        if self.broken is None and self._suspect is not None:
            self._diagnose(*self._suspect, None)
        if self.broken is None and self._due:
            position = min(self._due)
            head = self._last.chain_seq if self._last else 0
            anchor = self._due[position][0]
            self.broken = Break(
                position,
                0,
                "",
                f"the anchor of {anchor.anchored_at} is at chain_seq {position}, beyond the chain's end at "
                f"{head}: rows were removed from the end (or the whole chain)",
            )
        return self.broken

    def _diagnose(self, row: ChainRow, recomputed: bytes, following: ChainRow | None) -> None:
        stored = f"stored hash {row.chain_hash.hex()}, recomputed {recomputed.hex()}"
        if following is not None and following.chain_seq == row.chain_seq + 1:
            if following.chain_hash == link(self._hashes[1], following.envelope):
                self.broken = _break(
                    row, f"inserted: not part of the chain (the next row chains onto the row before it); {stored}"
                )
                return
            if following.chain_hash == link(row.chain_hash, following.envelope):
                self.broken = _break(
                    row,
                    f"hash mismatch: {stored}; its envelope was changed after it was chained, or the row before it "
                    "removed (the next row chains onto its stored hash)",
                )
                return
        self.broken = _break(
            row, f"hash mismatch: {stored}; its envelope or hash was changed, or rows before it removed"
        )


def _break(row: ChainRow, what: str) -> Break:
    return Break(row.chain_seq, row.seq, row.event_id, what)

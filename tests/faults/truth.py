"""The truth after a fault, read straight from the scheduling and materials databases (and the
dead-letter topics), never from the APIs under test: every booking settled exactly once, each
settlement matching what materials holds, and every lot's `reserved` the sum of what confirmed
reservations took of it."""

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from shared.events import topic_of
from shared.kafka import dlq_of
from shared.settings import SERVICES
from tests.faults.bookings import HubClient, Site
from tests.faults.harness import HubAddress, LogMark
from tests.support import read_topic

SCHEDULING_CONFIRMED = "gmphub.scheduling.booking.confirmed.v1"
SETTLED = {
    "confirmed": "gmphub.scheduling.booking.materials_reserved.v1",
    "materials_short": "gmphub.scheduling.booking.materials_short.v1",
}
SAGA_EVENTS = {  # by the service whose outbox holds them
    "scheduling": [SCHEDULING_CONFIRMED, *SETTLED.values()],
    "materials": ["gmphub.materials.reservation.confirmed.v1", "gmphub.materials.reservation.failed.v1"],
}
POISON_HEADER = "fault_test"  # marks the messages a test dead-letters on purpose


@dataclass(frozen=True)
class BookingRow:
    status: str
    awaiting_materials: bool


@dataclass(frozen=True)
class ReservationRow:
    status: str
    lines: int


@dataclass(frozen=True)
class LotRow:
    lot_number: str
    reserved: Decimal
    held_by_confirmed_reservations: Decimal


@dataclass
class Truth:
    bookings: dict[str, BookingRow]
    settle_events: dict[str, Counter]  # booking id -> how many of each settling event scheduling emitted
    reservations: dict[str, ReservationRow]  # by booking id
    lots: dict[str, LotRow]
    stock_covers: int

    def count(self, status: str) -> int:
        return sum(1 for b in self.bookings.values() if b.status == status)

    @property
    def stuck(self) -> dict[str, BookingRow]:
        """Bookings not (yet) settled: anything but confirmed or materials_short, or still awaiting."""
        return {i: b for i, b in self.bookings.items() if b.status not in SETTLED or b.awaiting_materials}

    @property
    def duplicates(self) -> dict[str, Counter]:
        """Settled bookings whose settlement scheduling applied other than exactly once."""
        return {
            i: self.settle_events.get(i, Counter())
            for i, b in self.bookings.items()
            if b.status in SETTLED and self.settle_events.get(i, Counter()) != Counter({SETTLED[b.status]: 1})
        }

    def problems(self) -> list[str]:
        found = []
        for booking_id, booking in self.bookings.items():
            reservation = self.reservations.get(booking_id)
            if booking.status == "confirmed" and (
                reservation is None or reservation.status != "confirmed" or reservation.lines < 1
            ):
                found.append(f"booking {booking_id} confirmed, but its reservation is {reservation}")
            if booking.status == "materials_short" and reservation is not None and reservation.status == "confirmed":
                found.append(f"booking {booking_id} materials_short, yet materials holds {reservation}")
        for lot_id, lot in self.lots.items():
            if lot.reserved != lot.held_by_confirmed_reservations:
                found.append(f"lot {lot.lot_number} ({lot_id}) reserved {lot.reserved}, but confirmed "
                             f"reservations hold {lot.held_by_confirmed_reservations} of it")  # fmt: skip
        if not self.stuck and self.count("confirmed") != self.stock_covers:
            found.append(f"{self.count('confirmed')} bookings confirmed; the stock covers exactly {self.stock_covers}")
        return found

    @property
    def holds(self) -> bool:
        return not self.stuck and not self.duplicates and not self.problems()

    def summary(self) -> str:
        return (
            f"bookings {len(self.bookings)}: confirmed {self.count('confirmed')}, "
            f"materials_short {self.count('materials_short')}, stuck {len(self.stuck)}, "
            f"duplicates {len(self.duplicates)}, other problems {len(self.problems())}"
        )

    def examples(self, limit: int = 8) -> list[str]:
        """Ids of the first few stuck and doubly settled bookings."""
        return list(self.stuck)[:limit] + list(self.duplicates)[:limit]

    def explain(self, trails: dict[str, str], limit: int = 8) -> str:
        """The first few of each kind of wrong, named by booking and state, with the saga's `trails`."""
        lines = [self.summary()]
        by_state = Counter(f"{b.status}{', awaiting materials' * b.awaiting_materials}" for b in self.stuck.values())
        if by_state:
            lines.append(f"stuck by state: {dict(by_state)}")
        for booking_id, booking in list(self.stuck.items())[:limit]:
            lines.append(f"  stuck {booking_id}: {booking.status}, awaiting materials {booking.awaiting_materials}, "
                         f"reservation {self.reservations.get(booking_id)}; {trails.get(booking_id)}")  # fmt: skip
        for booking_id, events in list(self.duplicates.items())[:limit]:
            lines.append(f"  booking {booking_id} ({self.bookings[booking_id].status}) settled by {dict(events)}; "
                         f"{trails.get(booking_id)}")  # fmt: skip
        lines.extend(f"  {p}" for p in self.problems()[:limit])
        return "\n".join(lines)


async def read_truth(address: HubAddress, site: Site, booking_ids: list[str]) -> Truth:
    ids = [uuid.UUID(b) for b in booking_ids]
    scheduling = await asyncpg.connect(address.database_dsns["scheduling"])
    try:
        bookings = {
            str(r["id"]): BookingRow(r["status"], r["awaiting"])
            for r in await scheduling.fetch(
                """SELECT id, status,
                          status IN ('held', 'materials_short') AND materials_requested_at IS NOT NULL AS awaiting
                   FROM booking WHERE id = ANY($1)""",
                ids,
            )
        }
        settle_events: dict[str, Counter] = {}
        for r in await scheduling.fetch(
            "SELECT key, type, count(*) AS n FROM outbox WHERE type = ANY($1) AND key = ANY($2) GROUP BY key, type",
            list(SETTLED.values()), booking_ids,
        ):  # fmt: skip
            settle_events.setdefault(r["key"], Counter())[r["type"]] = r["n"]
    finally:
        await scheduling.close()
    materials = await asyncpg.connect(address.database_dsns["materials"])
    try:
        reservations = {
            str(r["booking_id"]): ReservationRow(r["status"], r["lines"])
            for r in await materials.fetch(
                """SELECT r.booking_id, r.status, count(l.id) AS lines
                   FROM reservation r LEFT JOIN reservation_line l ON l.reservation_id = r.id
                   WHERE r.booking_id = ANY($1) GROUP BY r.id""",
                ids,
            )
        }
        lots = {
            str(r["id"]): LotRow(r["lot_number"], r["reserved"], r["held"])
            for r in await materials.fetch(
                """SELECT lot.id, lot.lot_number, lot.reserved,
                          coalesce(sum(l.quantity) FILTER (WHERE r.status = 'confirmed'), 0) AS held
                   FROM lot LEFT JOIN reservation_line l ON l.lot_id = lot.id
                            LEFT JOIN reservation r ON r.id = l.reservation_id
                   WHERE lot.id = ANY($1) GROUP BY lot.id""",
                [uuid.UUID(lot) for lot in site.lot_ids],
            )
        }
    finally:
        await materials.close()
    missing = set(booking_ids) - set(bookings)
    assert not missing, f"{len(missing)} bookings the developer made are gone from scheduling: {sorted(missing)[:5]}"
    return Truth(bookings, settle_events, reservations, lots, min(len(booking_ids), site.bookings_the_stock_covers))


async def saga_trails(address: HubAddress, booking_ids: list[str]) -> dict[str, str]:
    """Each booking's saga events in the two outboxes, in order per service, each marked published
    (+) or not yet (-): where a stuck saga stopped."""
    trails: dict[str, list[str]] = {b: [] for b in booking_ids}
    for service, types in SAGA_EVENTS.items():
        conn = await asyncpg.connect(address.database_dsns[service])
        try:
            for r in await conn.fetch(
                "SELECT key, type, published_at IS NOT NULL AS published FROM outbox "
                "WHERE key = ANY($1) AND type = ANY($2) ORDER BY seq",
                booking_ids, types,
            ):  # fmt: skip
                trails[r["key"]].append(f"{service} {r['type'].split('.', 2)[2]}{'+' if r['published'] else '-'}")
        finally:
            await conn.close()
    return {b: "outboxes: " + (", ".join(t) or "nothing") for b, t in trails.items()}


async def settled_truth(address: HubAddress, site: Site, booking_ids: list[str], since: float,
                        within: float = 60.0) -> tuple[Truth, float]:  # fmt: skip
    """Read the truth until every booking has settled (or `within` seconds after `since` have
    passed); return the last truth read and how long after `since` it was read."""
    while True:
        truth = await read_truth(address, site, booking_ids)
        elapsed = time.monotonic() - since
        if not truth.stuck or elapsed > within:
            return truth, elapsed
        await asyncio.sleep(0.25)


async def dead_letters(address: HubAddress) -> dict[str, list]:
    """Every message on the four dead-letter topics, by topic, read from the beginning."""
    return {dlq_of(topic_of(s)): await read_topic(address.bootstrap_servers, dlq_of(topic_of(s))) for s in SERVICES}


def unexpected(letters: dict[str, list]) -> dict[str, list[str]]:
    """The dead letters no test put there on purpose, each as its error."""
    found = {}
    for topic, records in letters.items():
        errors = [
            dict(r.headers or ()).get("dlq_error", b"").decode(errors="replace")
            for r in records
            if POISON_HEADER not in dict(r.headers or ())
        ]
        if errors:
            found[topic] = errors
    return found


async def assert_settled(
    fault: str,
    client: HubClient,
    site: Site,
    booking_ids: list[str],
    *,
    since: float,
    mark: LogMark,
    in_flight: dict[str, int] | None = None,
    within: float = 60.0,
) -> Truth:
    """Every booking settles within `within` seconds of `since` (the fault's end), the truth holds,
    and no event went to a dead-letter topic; the counts are printed either way, with how many
    sagas were `in_flight` at each moment the test counted them (when a fault struck)."""
    truth, elapsed = await settled_truth(client.address, site, booking_ids, since, within)
    letters = unexpected(await dead_letters(client.address))
    outcome = f"recovered in {elapsed:.1f} s" if not truth.stuck else f"not settled {elapsed:.1f} s after"
    answers = Counter("none" if a.status is None else str(a.status) for a in client.answers)
    struck = "".join(f"\n  sagas in flight {moment}: {count}" for moment, count in (in_flight or {}).items())
    print(f"\n{fault}: {truth.summary()}, dead letters {sum(map(len, letters.values()))}, {outcome}{struck}"
          f"\n  HTTP answers the client got: {dict(sorted(answers.items()))}")  # fmt: skip
    if not truth.holds:
        trails = await saga_trails(client.address, truth.examples())
        explanation = f"{truth.explain(trails)}\n{mark.excerpt()}"
        raise AssertionError(f"{fault}: the truth does not hold {elapsed:.0f} s after\n{explanation}")
    assert not letters, f"{fault}: dead letters no test put there: {letters}\n{mark.excerpt()}"
    return truth


async def sagas_in_flight(address: HubAddress, booking_ids: list[str]) -> int:
    """How many of the bookings are confirmed by the developer and still awaiting materials' answer."""
    conn = await asyncpg.connect(address.database_dsns["scheduling"])
    try:
        return await conn.fetchval(
            """SELECT count(*) FROM booking WHERE id = ANY($1) AND status IN ('held', 'materials_short')
               AND materials_requested_at IS NOT NULL""",
            [uuid.UUID(b) for b in booking_ids],
        )
    finally:
        await conn.close()


async def unpublished(address: HubAddress, service: str) -> int:
    """How many of the service's outbox rows the relay has not published yet."""
    conn = await asyncpg.connect(address.database_dsns[service])
    try:
        return await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await conn.close()

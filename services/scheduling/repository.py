"""Scheduling's unit of work and its repositories: the SQL that loads and saves what the use cases
change. Unit tests swap in an in-memory fake with the same attributes and methods
(tests/unit/scheduling/fakes.py); the locking said here is proven against PostgreSQL by the
integration tests."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg
import sqlalchemy as sa
from pydantic_core import to_json
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.scheduling import models
from services.scheduling.domain import (
    AGREEMENT_ENDED,
    CAMPAIGN_UNSETTLED,
    OPEN_BOOKING_STATUSES,
    AgreementFacts,
    ApprovalFacts,
    BookingStatus,
    CertificateFacts,
    Period,
    QuoteStatus,
    RiskFacts,
    ShortageFacts,
    SlotFacts,
    SlotFilters,
    SlotStatus,
    SupplierChangeFacts,
)
from shared import webhook_store
from shared.database import DriverStatement, Fetch, UnitOfWork, sqlstate
from shared.problems import Conflict

LOCK_NOT_AVAILABLE = "55P03"


class SchedulingUnitOfWork(UnitOfWork):
    """One transaction of scheduling, with its repositories on that transaction's session."""

    def attach(self, session: AsyncSession) -> None:
        self.slots = Slots(session, self.fetch, self.actor)
        self.bookings = Bookings(session, self.fetch, self.write_with_events)
        self.waitlist = WaitlistEntries(session)
        self.replicas = Replicas(session)
        self.idempotency_keys = IdempotencyKeys(session)
        self.agreements = Agreements(session)
        self.requests = Requests(session)
        self.quotes = Quotes(session)
        self.subscriptions = webhook_store.Subscriptions(session, models.Subscription)
        self.deliveries = webhook_store.Deliveries(session, models.WEBHOOK_TABLES)
        self.campaigns = Campaigns(session)

    async def commit(self) -> None:
        await self.replicas.flush()
        await super().commit()


# The statements a hold runs, compiled once from the tables and sent on the driver (`UnitOfWork.fetch`):
# no ORM identity-map work, no SQLAlchemy result layer. Lists go as one array parameter (`= ANY`), so
# one prepared statement serves any number of slots.
SLOT, SUITE, FACILITY, CERTIFICATE = (
    m.__table__ for m in (models.Slot, models.SuiteView, models.FacilityView, models.CertificateView)
)
SLOT_IDS = sa.bindparam("slot_ids", type_=ARRAY(sa.Uuid))


def _rows_of(*columns: sa.ColumnElement) -> sa.ColumnElement:
    """The matching rows' columns, as one array of records (None if none match); the driver gives
    each record as a tuple of typed values."""
    return sa.func.array_agg(sa.tuple_(*columns), type_=sa.types.NullType())


def _facts_of_slot() -> tuple[sa.ColumnElement, ...]:
    """What the booking rules ask of a slot's suite and facility, for the slot in the statement."""
    return (
        sa.select(SUITE.c.retired).where(SUITE.c.suite_id == SLOT.c.suite_id).scalar_subquery().label("retired"),
        sa.select(FACILITY.c.country).where(FACILITY.c.facility_id == SLOT.c.facility_id).scalar_subquery(),
        sa.select(_rows_of(CERTIFICATE.c.number, CERTIFICATE.c.status, CERTIFICATE.c.expires_on, CERTIFICATE.c.reason))
        .where(CERTIFICATE.c.facility_id == SLOT.c.facility_id)
        .scalar_subquery()
        .label("certificates"),
    )


# A hold in one statement: the slots locked in id order without waiting, the open ones held for the
# booking, each returned with its suite's and facility's facts for the rules to judge (a refusal
# rolls the move back). Claiming and moving apart took a round trip more and a statement more.
_CLAIMED = (
    sa.select(SLOT.c.id).where(SLOT.c.id == sa.any_(SLOT_IDS)).order_by(SLOT.c.id).with_for_update(nowait=True)
).cte("claimed")
TAKE = DriverStatement.of(
    sa.update(SLOT)
    .where(SLOT.c.id == _CLAIMED.c.id, SLOT.c.status == SlotStatus.OPEN.value)
    .values(
        status=SlotStatus.HELD.value,
        booking_id=sa.bindparam("booking"),
        status_reason=None,
        version=SLOT.c.version + 1,
        updated_at=sa.func.now(),
        updated_by=sa.bindparam("actor"),
    )
    .returning(
        SLOT.c.id,
        SLOT.c.suite_id,
        SLOT.c.facility_id,
        SLOT.c.starts_at,
        SLOT.c.ends_at,
        SLOT.c.status,
        *_facts_of_slot(),
    )  # fmt: skip
)

# The slots as they are, locked the same way, with the same facts: why a hold took fewer than asked,
# and what a quote's proposed slots are.
CLAIM = DriverStatement.of(
    sa.select(
        SLOT.c.id,
        SLOT.c.suite_id,
        SLOT.c.facility_id,
        SLOT.c.starts_at,
        SLOT.c.ends_at,
        SLOT.c.status,
        *_facts_of_slot(),
    )  # fmt: skip
    .where(SLOT.c.id == sa.any_(SLOT_IDS))
    .order_by(SLOT.c.id)
    .with_for_update(of=SLOT, nowait=True)
)

_MOVE = (
    sa.update(SLOT)
    .where(SLOT.c.id == sa.any_(SLOT_IDS))
    .values(
        status=sa.bindparam("to"),
        booking_id=sa.bindparam("booking"),
        status_reason=sa.bindparam("reason"),
        version=SLOT.c.version + 1,
        updated_at=sa.func.now(),
        updated_by=sa.bindparam("actor"),
    )
    .returning(SLOT.c.id, SLOT.c.updated_at)
)
MOVE = DriverStatement.of(_MOVE)
MOVE_FROM = DriverStatement.of(_MOVE.where(SLOT.c.status == sa.any_(sa.bindparam("only_from", type_=ARRAY(sa.Text)))))
# A quote's own statements, so a booking's stay as they are: open slots held for a quote, and a
# quote's slots (only those it holds) open again.
_QUOTE_MOVE = sa.update(SLOT).where(SLOT.c.id == sa.any_(SLOT_IDS)).returning(SLOT.c.id, SLOT.c.updated_at)
_QUOTE_STAMP = {"version": SLOT.c.version + 1, "updated_at": sa.func.now(), "updated_by": sa.bindparam("actor")}
HOLD_FOR_QUOTE = DriverStatement.of(
    _QUOTE_MOVE.where(SLOT.c.status == SlotStatus.OPEN.value).values(
        status=SlotStatus.QUOTED.value,
        quote_id=sa.bindparam("quote"),
        status_reason=sa.bindparam("reason"),
        **_QUOTE_STAMP,
    )
)
# An accepted quote's slots, each held for its batch's booking, in one statement.
HOLD_QUOTED_FOR_BATCHES = DriverStatement(
    "UPDATE slot SET status = 'held', booking_id = batch.booking_id, quote_id = NULL, status_reason = NULL,"
    " version = slot.version + 1, updated_at = now(), updated_by = $3"
    " FROM unnest($1::uuid[], $2::uuid[]) AS batch(slot_id, booking_id)"
    " WHERE slot.id = batch.slot_id AND slot.status = 'quoted' AND slot.quote_id = $4"
    " RETURNING slot.id, slot.updated_at",
    (("slot_ids", None), ("booking_ids", None), ("actor", None), ("quote", None)),
)
RELEASE_QUOTED = DriverStatement.of(
    _QUOTE_MOVE.where(SLOT.c.status == SlotStatus.QUOTED.value, SLOT.c.quote_id == sa.bindparam("quote")).values(
        status=SlotStatus.OPEN.value, quote_id=None, status_reason=None, **_QUOTE_STAMP
    )
)


def _slot_facts(rows: list[asyncpg.Record]) -> list[SlotFacts]:
    return [
        SlotFacts(*tuple(row.values())[:8], certificates=tuple(CertificateFacts(*c) for c in row["certificates"] or ()))
        for row in rows
    ]


class Slots:
    def __init__(self, session: AsyncSession, fetch: Fetch, actor: str | None) -> None:
        self.session, self._fetch, self.actor = session, fetch, actor

    async def resample_if_grown(self, added: int) -> bool:
        """Have PostgreSQL sample the slots again when the slots changed since its last sample (these
        `added` ones with them) are a tenth or more of what it counted then (and a thousand or more).
        The search's plans rest on these statistics, and a search keeps its plan (`Database.search`):
        a catalogue published in many requests of a few thousand slots each, searched before
        autovacuum's next round (up to a minute away), was planned on a twentieth of its slots and
        answered some searches in 30 s instead of milliseconds."""
        counted, changed = (await self.session.execute(SLOTS_SAMPLED)).one()  # counted: -1 before the first
        if changed + added < max(1000, counted / 10):
            return False
        await self.session.execute(sa.text("ANALYZE slot"))
        return True

    async def lock(self, slot_ids: Sequence[UUID]) -> list[models.Slot]:
        """Lock the slots in one fixed order (by id), so concurrent changes never deadlock."""
        query = select(models.Slot).where(col(models.Slot.id).in_(slot_ids)).order_by(col(models.Slot.id))
        return list(await self.session.exec(query.with_for_update()))

    async def take(self, slot_ids: Sequence[UUID], booking_id: UUID) -> list[SlotFacts]:
        """Hold the open slots among these for the booking, locked as `claim` locks them (a slot
        another transaction is claiming right now: 409 at once); return those held, with their
        facts. Fewer than asked: `claim` tells why (missing, taken); the caller refuses."""
        try:
            rows = await self._fetch(TAKE, slot_ids=list(slot_ids), booking=booking_id, actor=self.actor or "unknown")
        except DBAPIError as exc:
            if sqlstate(exc) != LOCK_NOT_AVAILABLE:
                raise
            raise Conflict("A requested slot is being booked by another request right now.") from None
        return _slot_facts(rows)

    async def claim(self, slot_ids: Sequence[UUID]) -> list[SlotFacts]:
        """Lock the slots a hold asks for, in one fixed order (by id) and without waiting: a slot
        another transaction is claiming right now is refused at once (409), so of racing holds
        exactly one wins. Each comes with what the booking rules ask of its suite and facility, in
        the same statement. Only the slots are locked, never their suite or facility."""
        try:
            rows = await self._fetch(CLAIM, slot_ids=list(slot_ids))
        except DBAPIError as exc:
            if sqlstate(exc) != LOCK_NOT_AVAILABLE:
                raise
            raise Conflict("A requested slot is being booked by another request right now.") from None
        return _slot_facts(rows)

    async def move(
        self,
        slot_ids: Sequence[UUID],
        status: SlotStatus,
        booking_id: UUID | None,
        *,
        reason: str | None = None,
        only_from: Sequence[SlotStatus] | None = None,
    ) -> list[UUID]:
        """Move slots to `status` (only those currently in `only_from`, if given); return the ones
        moved. Slot objects already loaded in the session see the change."""
        changes = {"to": status.value, "booking": booking_id, "reason": reason, "actor": self.actor or "unknown"}
        if only_from is None:
            moved = await self._fetch(MOVE, slot_ids=list(slot_ids), **changes)
        else:
            only = [s.value for s in only_from]
            moved = await self._fetch(MOVE_FROM, slot_ids=list(slot_ids), only_from=only, **changes)
        return self._in_step(moved, status=status.value, booking_id=booking_id, status_reason=reason)

    async def hold_for_quote(self, slot_ids: Sequence[UUID], quote_id: UUID, reason: str) -> list[UUID]:
        """Open slots (claimed by the caller) become `quoted` for the quote; return those moved."""
        moved = await self._fetch(
            HOLD_FOR_QUOTE, slot_ids=list(slot_ids), quote=quote_id, reason=reason, actor=self.actor or "unknown"
        )
        return self._in_step(moved, status=SlotStatus.QUOTED.value, quote_id=quote_id, status_reason=reason)

    async def release_quoted(self, slot_ids: Sequence[UUID], quote_id: UUID) -> list[UUID]:
        """The quote's slots among these (`quoted` for it, none other) open again; return those moved."""
        moved = await self._fetch(
            RELEASE_QUOTED, slot_ids=list(slot_ids), quote=quote_id, actor=self.actor or "unknown"
        )
        return self._in_step(moved, status=SlotStatus.OPEN.value, quote_id=None, status_reason=None)

    async def hold_quoted_for_batches(self, quote_id: UUID, batches: Sequence[tuple[UUID, UUID]]) -> list[UUID]:
        """The quote's slots (`quoted` for it) become `held`, each for its batch's booking, given as
        (slot_id, booking_id); return those moved."""
        slot_ids, booking_ids = [s for s, _ in batches], [b for _, b in batches]
        moved = await self._fetch(
            HOLD_QUOTED_FOR_BATCHES, slot_ids=slot_ids, booking_ids=booking_ids, actor=self.actor or "unknown",
            quote=quote_id,
        )  # fmt: skip
        return self._in_step(
            moved, status=SlotStatus.HELD.value, quote_id=None, status_reason=None, booking_ids=dict(batches)
        )

    def _in_step(
        self, moved: Sequence[Any], *, booking_ids: Mapping[UUID, UUID] | None = None, **changed: Any
    ) -> list[UUID]:
        """Return the ids moved. A Core statement leaves loaded objects be: slot objects already in
        the session are brought in step with `changed` (column: value), each with its booking if
        `booking_ids` gives one per slot, a new version, when and by whom."""
        ids = []
        for slot_id, updated_at in moved:
            ids.append(slot_id)
            slot = self.session.identity_map.get(identity_key(models.Slot, slot_id))
            if slot is not None:
                values = changed | ({"booking_id": booking_ids[slot_id]} if booking_ids is not None else {})
                values |= {"version": slot.version + 1, "updated_at": updated_at, "updated_by": self.actor or "unknown"}
                for name, value in values.items():
                    set_committed_value(slot, name, value)
        return ids

    async def add(self, slots: Sequence[models.Slot]) -> None:
        self.session.add_all(slots)
        try:
            await self.session.flush()
        except IntegrityError:  # a concurrent publication won the same period; the constraint says no
            raise Conflict("The slots overlap slots published at the same moment on this suite.") from None

    async def live_periods_within(self, suite_id: UUID, span: Period) -> list[Period]:
        """The periods of the suite's slots (withdrawn ones aside) that overlap `span`."""
        period = col(models.SlotPeriod.period)
        rows = await self.session.execute(
            sa.select(sa.func.lower(period), sa.func.upper(period)).where(
                col(models.SlotPeriod.suite_id) == suite_id,
                period.op("&&")(sa.func.tstzrange(span.starts_at, span.ends_at)),
            )
        )
        return [Period(start, end) for start, end in rows]

    async def available(self, filters: SlotFilters, limit: int) -> list[UUID]:
        """Available slots matching `filters`, earliest first."""
        values = filter_values(filters)
        query = sa.select(SLOT.c.id).select_from(SLOT_SITE).where(*available(values)).order_by(SLOT.c.starts_at)
        return list((await self.session.execute(query.limit(limit), values)).scalars())

    async def first_available_of(self, slot_ids: Sequence[UUID], filters: SlotFilters) -> models.Slot | None:
        """The earliest of these slots still available and matching `filters`, locked; slots another
        transaction is busy with are skipped, never waited for."""
        values = filter_values(filters)
        query = (
            select(models.Slot)
            .select_from(SLOT_SITE)
            .where(*available(values), SLOT.c.id.in_(slot_ids))
            .order_by(SLOT.c.starts_at)
            .limit(1)
            .with_for_update(of=SLOT, skip_locked=True)
        )
        return (await self.session.exec(query, params=values)).first()


# What PostgreSQL counted at its last sample of the slots, and how many changed since (committed).
SLOTS_SAMPLED = sa.text(
    "SELECT c.reltuples, coalesce(s.n_mod_since_analyze, 0) FROM pg_class c"
    " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = 'slot'::regclass"
)

# Where a slot is: its suite and facility. Available slots are found on a slot and its site.
SITE = SUITE.join(FACILITY, FACILITY.c.facility_id == SUITE.c.facility_id)
SLOT_SITE = SLOT.join(SUITE, SUITE.c.suite_id == SLOT.c.suite_id).join(
    FACILITY, FACILITY.c.facility_id == SLOT.c.facility_id
)


def available(given: Iterable[str]) -> list[sa.ColumnElement[bool]]:
    """Available means open, on an active facility's non-retired suite, with a certificate valid
    today; and matching the filters named in `given`, their values bound as parameters of the
    same names (`filter_values`). One definition for the slot search and the waitlist's matching,
    as conditions on `SLOT_SITE`; a statement built on them is the same whatever the values, so
    SQLAlchemy compiles it once."""
    site = available_sites(given)
    # Asked once, before any slot is read (its own suite and facility, not the row's): where no
    # site matches, a walk along the open slots in time order would read every one to find none.
    some_site = sa.exists().select_from(SITE).where(*site).correlate(None)
    return [
        SLOT.c.status == OPEN,
        *site,
        some_site,
        *(PERIOD_FILTERS[name] for name in given if name in PERIOD_FILTERS),
    ]


def available_sites(given: Iterable[str]) -> list[sa.ColumnElement[bool]]:
    """Where an available slot may be, as conditions on `SITE`: a non-retired suite of an active
    facility with a certificate valid today, matching the site filters named in `given`."""
    return [
        SUITE.c.retired.is_(False),
        FACILITY.c.active.is_(True),
        valid_certificate_exists(FACILITY.c.facility_id),
        *(SITE_FILTERS[name] for name in given if name in SITE_FILTERS),
    ]


# A literal, not a parameter, as every status a partial index names must be (waiting entries,
# offered quotes): an index serves only a condition it can see, and PostgreSQL may keep a prepared
# statement's plan made without the parameters' values.
OPEN = sa.literal_column(f"'{SlotStatus.OPEN.value}'")

# What a developer may ask of a slot's site and of its period (`SlotFilters`), each value bound
# under the filter's name.
SITE_FILTERS: dict[str, sa.ColumnElement[bool]] = {
    "country": FACILITY.c.country == sa.bindparam("country"),
    "atmp_type": SUITE.c.atmp_types.any(sa.bindparam("atmp_type")),
    "process": SUITE.c.processes.any(sa.bindparam("process")),
    "cleanroom_grade": SUITE.c.cleanroom_grade == sa.bindparam("cleanroom_grade"),
    "facility_id": FACILITY.c.facility_id == sa.bindparam("facility_id"),
    "suite_id": SUITE.c.suite_id == sa.bindparam("suite_id"),
}
PERIOD_FILTERS: dict[str, sa.ColumnElement[bool]] = {
    "starts_from": SLOT.c.starts_at >= sa.bindparam("starts_from"),
    # A slot ends after it starts (a check constraint): bounding its start too lets a walk along
    # the start index stop at the end of the range.
    "ends_before": sa.and_(
        SLOT.c.ends_at <= sa.bindparam("ends_before"), SLOT.c.starts_at < sa.bindparam("ends_before")
    ),
}


def filter_values(filters: SlotFilters) -> dict[str, Any]:
    """The filters given (not None) by name: the parameters of the conditions `available` names."""
    return {name: value for name in (*PERIOD_FILTERS, *SITE_FILTERS) if (value := getattr(filters, name)) is not None}


def valid_certificate_exists(facility_id: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """SQL: the facility holds a certificate that is valid today."""
    return sa.exists().where(
        CERTIFICATE.c.facility_id == facility_id,
        CERTIFICATE.c.status == "valid",
        CERTIFICATE.c.expires_on >= sa.func.current_date(),
    )


BOOKING = models.Booking.__table__
# A booking of its own belongs to no campaign: its insert leaves `campaign_id` (NULL) out, the
# statement as it was before campaigns. A campaign's batches go in with the campaign (`Campaigns.add`).
INSERT_BOOKING = DriverStatement.of(
    sa.insert(BOOKING).values({c.key: sa.bindparam(c.key) for c in BOOKING.columns if c.key != "campaign_id"})
)
BOOKING_JSON = frozenset(c.key for c in BOOKING.columns if isinstance(c.type, JSONB))  # sent as JSON text


def _booking_values(booking: models.Booking) -> dict[str, Any]:
    values = {c.key: getattr(booking, c.key) for c in BOOKING.columns}
    return values | {k: to_json(values[k]).decode() for k in BOOKING_JSON}


class Bookings:
    def __init__(self, session: AsyncSession, fetch: Fetch, write_with_events: Callable[..., None]) -> None:
        self.session, self._fetch, self._write_with_events = session, fetch, write_with_events

    async def get(self, booking_id: UUID, *, lock: bool = False) -> models.Booking | None:
        return await self.session.get(models.Booking, booking_id, with_for_update=lock)

    async def add(self, booking: models.Booking) -> None:
        """A new booking, inserted at once as it stands (the session does not track it: change it
        through `save` only after loading it)."""
        await self._fetch(INSERT_BOOKING, **_booking_values(booking))

    def add_with_events(self, booking: models.Booking) -> None:
        """A new booking, inserted in the same statement as the unit's events at its commit (a
        hold's booking: nothing reads it back before)."""
        self._write_with_events(INSERT_BOOKING, **_booking_values(booking))

    async def save(self, booking: models.Booking) -> None:
        self.session.add(booking)

    async def overdue_holds(self, now: datetime, limit: int) -> list[models.Booking]:
        """Holds past their time, oldest first, locked; those another replica is expiring are skipped."""
        return await self._locked_batch(
            col(models.Booking.hold_expires_at) <= now, col(models.Booking.hold_expires_at), limit
        )

    async def unanswered(self, asked_before: datetime, limit: int) -> list[models.Booking]:
        """Bookings whose last request to materials went out before `asked_before` and is unanswered,
        longest waiting first, locked; those another replica holds are skipped."""
        return await self._locked_batch(
            sa.and_(
                col(models.Booking.materials_requested_at).is_not(None),
                col(models.Booking.materials_asked_at) <= asked_before,
            ),
            col(models.Booking.materials_asked_at),
            limit,
        )

    async def holds_expiring(self, before: datetime, now: datetime, limit: int) -> list[models.Booking]:
        """Holds that expire after `now` but by `before`, of which no reminder was sent for that
        expiry, soonest first, locked; those another replica is reminding of are skipped."""
        booking, reminder = models.Booking, models.HoldReminder
        expires = col(booking.hold_expires_at)
        reminded = sa.exists().where(
            col(reminder.booking_id) == booking.id, col(reminder.hold_expires_at) == booking.hold_expires_at
        )
        return await self._locked_batch(sa.and_(expires <= before, expires > now, ~reminded), expires, limit)

    async def remember_reminder(self, booking: models.Booking) -> None:
        """That the booking's hold was reminded of, for its present expiry."""
        self.session.add(models.HoldReminder(booking_id=booking.id, hold_expires_at=booking.hold_expires_at))

    async def _locked_batch(
        self, due: sa.ColumnElement[bool], oldest_first: sa.ColumnElement, limit: int
    ) -> list[models.Booking]:
        unsettled = col(models.Booking.status).in_([BookingStatus.HELD.value, BookingStatus.MATERIALS_SHORT.value])
        query = select(models.Booking).where(due, unsettled).order_by(oldest_first).limit(limit)
        return list(await self.session.exec(query.with_for_update(skip_locked=True)))

    async def future_open_at(self, facility_id: UUID, now: datetime) -> list[models.Booking]:
        return await self._future_open(col(models.Booking.facility_id) == facility_id, now)

    async def future_open_needing(self, material_id: UUID, now: datetime) -> list[models.Booking]:
        needs = sa.func.jsonb_build_array(sa.func.jsonb_build_object("material_id", str(material_id)))
        return await self._future_open(col(models.Booking.material_needs).op("@>")(needs), now)

    async def future_open_relying_on(self, approval_id: UUID, now: datetime) -> list[models.Booking]:
        return await self._future_open(col(models.Booking.approval_id) == approval_id, now)

    async def future_open_among(self, booking_ids: Sequence[UUID], now: datetime) -> list[models.Booking]:
        return await self._future_open(col(models.Booking.id).in_(booking_ids), now)

    async def _future_open(self, which: sa.ColumnElement[bool], now: datetime) -> list[models.Booking]:
        """Open bookings `which` selects whose run has not ended, by start, locked."""
        query = (
            select(models.Booking)
            .where(
                which,
                col(models.Booking.status).in_([s.value for s in OPEN_BOOKING_STATUSES]),
                col(models.Booking.ends_at) > now,
            )
            .order_by(col(models.Booking.starts_at))
        )
        return list(await self.session.exec(query.with_for_update()))


Aggregate = TypeVar("Aggregate", bound=models.Table)


class _Aggregates(Generic[Aggregate]):
    """An aggregate's table: fetched by id (with `lock`, FOR UPDATE) and saved. The subclasses add
    the queries their use cases need."""

    model: type[Aggregate]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, aggregate_id: UUID, *, lock: bool = False) -> Aggregate | None:
        return await self.session.get(self.model, aggregate_id, with_for_update=lock)

    async def save(self, aggregate: Aggregate) -> None:
        self.session.add(aggregate)
        await self.session.flush()


class WaitlistEntries(_Aggregates[models.WaitlistEntry]):
    model = models.WaitlistEntry

    async def waiting(self) -> list[models.WaitlistEntry]:
        """The line, oldest entry first (then by id, as positions count), locked; entries another
        transaction is busy with are skipped."""
        query = (
            select(models.WaitlistEntry)
            .where(models.WaitlistEntry.status == "waiting")
            .order_by(col(models.WaitlistEntry.created_at), col(models.WaitlistEntry.id))
            .with_for_update(skip_locked=True)
        )
        return list(await self.session.exec(query))


View = TypeVar("View", bound=models.Table)


SHORTAGE, APPROVAL = models.ShortageView.__table__, models.ApprovalView.__table__
FACILITY_ID = sa.bindparam("facility_id", type_=sa.Uuid)

RISK_FACTS = sa.select(
    sa.select(FACILITY.c.country).where(FACILITY.c.facility_id == FACILITY_ID).scalar_subquery().label("country"),
    sa.select(_rows_of(CERTIFICATE.c.number, CERTIFICATE.c.status, CERTIFICATE.c.expires_on, CERTIFICATE.c.reason))
    .where(CERTIFICATE.c.facility_id == FACILITY_ID)
    .scalar_subquery()
    .label("certificates"),
    sa.select(
        _rows_of(
            SHORTAGE.c.material_id, SHORTAGE.c.severity, SHORTAGE.c.reason, SHORTAGE.c.material_name, SHORTAGE.c.regions
        )  # fmt: skip
    )
    .where(
        SHORTAGE.c.material_id == sa.any_(sa.bindparam("material_ids", type_=ARRAY(sa.Uuid))),
        SHORTAGE.c.status == "active",
    )
    .scalar_subquery()
    .label("shortages"),
    sa.select(_rows_of(APPROVAL.c.approval_id, APPROVAL.c.status, APPROVAL.c.holder_org_id, APPROVAL.c.facility_ids))
    .where(APPROVAL.c.approval_id == sa.bindparam("approval_id", type_=sa.Uuid))
    .scalar_subquery()
    .label("approval"),
)


@cache
def _upsert(table: sa.Table, *, answer: bool = True) -> sa.Insert:
    """Insert a replica's row, or update it where the held version is older; with `answer`, return
    the key if it was written (without, many rows go in one round trip). Built once per table, its
    parameters given at execution (no per-event compiling)."""
    [key] = table.primary_key.columns
    upsert = insert(table)
    statement = upsert.on_conflict_do_update(
        index_elements=[key],
        set_={c.name: upsert.excluded[c.name] for c in table.columns if c is not key},
        where=table.c.version < upsert.excluded.version,
    )
    return statement.returning(key) if answer else statement


class Replicas:
    """Scheduling's replicas of the others' data, and the facts the booking rules take from them.

    States `stage`d are written together, one statement per table, at the next read of the
    replicas or at the commit: a consumer's batch of facility and suite events costs one round
    trip, not one per event."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._staged: dict[sa.Table, dict[Any, dict[str, Any]]] = {}

    async def get(self, view_class: type[View], key: UUID, *, lock: bool = False) -> View | None:
        await self.flush()
        return await self.session.get(view_class, key, with_for_update=lock)

    async def active_facilities(self, facility_ids: Sequence[UUID]) -> set[UUID]:
        """Those of these facilities scheduling knows as active, in one statement."""
        await self.flush()
        view = models.FacilityView
        query = sa.select(view.facility_id).where(col(view.facility_id).in_(facility_ids), col(view.active))
        return set((await self.session.execute(query)).scalars())

    async def record(self, view_class: type[View], state: dict[str, Any]) -> bool:
        """Hold `state` (with its `version`) unless the replica holds that version or a newer one;
        say whether it was held. One statement: an event's state is written without being read."""
        await self.flush()
        row = view_class.model_validate(state).model_dump()  # the table's columns, typed
        return (await self.session.execute(_upsert(view_class.__table__), row)).first() is not None  # type: ignore[attr-defined]

    def stage(self, view_class: type[View], state: dict[str, Any]) -> None:
        """`record` without the answer, written with the others staged (the newest state per key)."""
        table: sa.Table = view_class.__table__  # type: ignore[attr-defined]
        row = view_class.model_validate(state).model_dump()
        [key] = table.primary_key.columns
        staged = self._staged.setdefault(table, {})
        held = staged.get(row[key.name])
        if held is None or held["version"] < row["version"]:
            staged[row[key.name]] = row  # one row per key: a statement may touch a row only once

    async def flush(self) -> None:
        staged, self._staged = self._staged, {}
        for table, rows in staged.items():
            await self.session.execute(_upsert(table, answer=False), list(rows.values()))

    async def certificates(self, facility_id: UUID) -> list[CertificateFacts]:
        await self.flush()
        rows = await self.session.exec(
            select(models.CertificateView).where(models.CertificateView.facility_id == facility_id)
        )
        return [CertificateFacts(r.number, r.status, r.expires_on, r.reason) for r in rows]

    async def facilities_fitting(self, filters: SlotFilters, limit: int) -> list[UUID]:
        """Active facilities, certified today, with a live suite that fits the site filters (where the
        slot search looks: `available_sites`), by id; at most `limit`."""
        await self.flush()
        values = filter_values(filters)
        query = (
            sa.select(FACILITY.c.facility_id)
            .select_from(SITE)
            .where(*available_sites(values))
            .distinct()
            .order_by(FACILITY.c.facility_id)
            .limit(limit)
        )
        return list((await self.session.execute(query, values)).scalars())

    async def approval(self, approval_id: UUID | None) -> ApprovalFacts | None:
        """The approval a run relies on, as scheduling knows it (none for a run that relies on none)."""
        await self.flush()
        if approval_id is None:
            return None
        view = await self.session.get(models.ApprovalView, approval_id)
        if view is None:
            return None
        return ApprovalFacts(view.approval_id, view.status, view.holder_org_id, list(view.facility_ids))

    async def risk_facts(self, facility_id: UUID, material_ids: Sequence[UUID], approval_id: UUID | None) -> RiskFacts:
        """What the at-risk reasons of a booking at this facility, needing these materials and
        relying on this approval, are made of: one query."""
        await self.flush()
        params = {"facility_id": facility_id, "material_ids": list(material_ids), "approval_id": approval_id}
        row = (await self.session.execute(RISK_FACTS, params)).one()
        return RiskFacts(
            certificates=[CertificateFacts(*c) for c in row.certificates or ()],
            country=row.country,
            shortages=[
                ShortageFacts(m, severity, reason, name, tuple(regions))
                for m, severity, reason, name, regions in row.shortages or ()
            ],  # fmt: skip
            approval=next((ApprovalFacts(*a) for a in row.approval or ()), None),
        )

    async def add_supplier_change(self, rows: list[dict[str, Any]]) -> None:
        """The change once per booking it touches; a redelivered event's rows are there already."""
        if rows:
            view = models.SupplierChangeView
            await self.session.execute(insert(view).values(rows).on_conflict_do_nothing())

    async def answer_supplier_change(self, supplier_change_id: UUID, facility_id: UUID, outcome: str) -> list[UUID]:
        """The facility's answer on the change's bookings at that facility; return those bookings."""
        view = models.SupplierChangeView
        result = await self.session.execute(
            sa.update(view)
            .where(col(view.supplier_change_id) == supplier_change_id, col(view.facility_id) == facility_id)
            .values(outcome=outcome, updated_at=sa.func.now())
            .returning(view.booking_id)
        )
        return list(result.scalars())

    async def supplier_changes(self, booking_id: UUID) -> list[SupplierChangeFacts]:
        view = models.SupplierChangeView
        rows = await self.session.exec(select(view).where(view.booking_id == booking_id))
        return [
            SupplierChangeFacts(r.change_type, r.description, r.effective_on, r.risk_class, r.outcome) for r in rows
        ]

    async def active_shortages(self, material_ids: Sequence[UUID]) -> list[ShortageFacts]:
        await self.flush()
        if not material_ids:
            return []
        rows = await self.session.exec(
            select(models.ShortageView).where(
                col(models.ShortageView.material_id).in_(material_ids), models.ShortageView.status == "active"
            )
        )
        return [ShortageFacts(r.material_id, r.severity, r.reason, r.material_name, tuple(r.regions)) for r in rows]


Record = models.IdempotencyRecord.__table__


class IdempotencyKeys:
    """Two requests racing with one key serialise on the key's primary key: the second waits for the
    first to commit, then finds its answer (or, if the first failed and rolled back, goes ahead)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, scope: str, key: str, request_hash: str) -> models.IdempotencyRecord | None:
        """Take the key for this request (None), or give the record of the answer already given under it."""
        taken = await self.session.scalar(
            insert(Record)
            .values(scope=scope, key=key, request_hash=request_hash, created_at=models.now())
            .on_conflict_do_nothing()
            .returning(Record.c.key)
        )
        if taken is not None:
            return None
        record = await self.session.get(models.IdempotencyRecord, (scope, key))
        assert record is not None and record.response is not None  # committed together with its answer
        return record

    async def remember(self, scope: str, key: str, response: dict[str, Any], booking_id: UUID) -> None:
        await self.session.execute(
            sa.update(Record)
            .where(Record.c.scope == scope, Record.c.key == key)
            .values(response=response, booking_id=booking_id)
        )


Agreement = models.TechnicalAgreement


class Agreements(_Aggregates[models.TechnicalAgreement]):
    model = models.TechnicalAgreement

    async def between(self, org_id: str, facility_id: UUID) -> list[AgreementFacts]:
        """The agreements between an organisation and a facility not ended (by status), oldest first,
        share-locked: a confirmation relying on one commits before it can be terminated, or sees it ended."""
        rows = await self.session.exec(
            select(Agreement)
            .where(
                Agreement.org_id == org_id,
                Agreement.facility_id == facility_id,
                col(Agreement.status).not_in([s.value for s in AGREEMENT_ENDED]),
            )
            .order_by(col(Agreement.created_at), col(Agreement.id))
            .with_for_update(read=True)
        )
        return [AgreementFacts(r.id, r.status, list(r.run_kinds), r.valid_from, r.valid_until) for r in rows]

    async def run_out(self, today: date, limit: int) -> list[models.TechnicalAgreement]:
        """Agreements not ended whose last valid day lies before `today`, locked; those another
        replica is expiring are skipped."""
        query = (
            select(Agreement)
            .where(
                col(Agreement.status).not_in([s.value for s in AGREEMENT_ENDED]),
                col(Agreement.valid_until) < today,
            )
            .order_by(col(Agreement.valid_until), col(Agreement.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(await self.session.exec(query))


Request, Quote = models.ManufacturingRequest, models.Quote
# A literal, so the partial index on offered quotes serves the expiry job (see `OPEN`).
OFFERED = sa.literal_column(f"'{QuoteStatus.OFFERED.value}'")


class Requests(_Aggregates[models.ManufacturingRequest]):
    """With `lock`, every change of a request and its quotes takes the request first: racing
    acceptances of two of its quotes run one after the other, and the second finds it accepted."""

    model = models.ManufacturingRequest


class Quotes(_Aggregates[models.Quote]):
    model = models.Quote

    async def offered_for(self, request_id: UUID, facility_id: UUID | None = None) -> list[models.Quote]:
        """The request's offered quotes (of one facility, if named), in id order, locked."""
        query = select(Quote).where(Quote.request_id == request_id, col(Quote.status) == OFFERED)
        if facility_id is not None:
            query = query.where(Quote.facility_id == facility_id)
        return list(await self.session.exec(query.order_by(col(Quote.id)).with_for_update()))

    async def run_out(self, now: datetime, limit: int) -> list[models.Quote]:
        """Offered quotes past their validity, oldest first, locked; those another replica is
        expiring (or someone is changing) are skipped."""
        query = (
            select(Quote)
            .where(col(Quote.status) == OFFERED, col(Quote.valid_until) <= now)
            .order_by(col(Quote.valid_until), col(Quote.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(await self.session.exec(query))


Campaign = models.Campaign


class Campaigns(_Aggregates[models.Campaign]):
    """With `lock`, every change of a campaign or of one of its batches takes the campaign first,
    then its batches in id order, then slots: campaign changes never deadlock one another."""

    model = models.Campaign

    async def add(self, campaign: models.Campaign, batches: Sequence[models.Booking]) -> None:
        """A new campaign and its batches (bookings with its `campaign_id`)."""
        self.session.add(campaign)
        self.session.add_all(batches)
        await self.session.flush()

    async def batches(self, campaign_id: UUID) -> list[models.Booking]:
        """The campaign's batches, in id order, locked (the caller holds the campaign's lock)."""
        query = select(models.Booking).where(models.Booking.campaign_id == campaign_id)
        return list(await self.session.exec(query.order_by(col(models.Booking.id)).with_for_update()))

    async def overdue_holds(self, now: datetime, limit: int) -> list[models.Campaign]:
        """Held or short campaigns whose hold ran out, oldest first, locked; those another replica
        holds are skipped."""
        return await self._locked_batch(col(Campaign.hold_expires_at) <= now, col(Campaign.hold_expires_at), limit)

    async def holds_expiring(self, before: datetime, now: datetime, limit: int) -> list[models.Campaign]:
        """Held or short campaigns whose hold expires after `now` but by `before`, not reminded of
        for that expiry, soonest first, locked; those another replica holds are skipped."""
        expires = col(Campaign.hold_expires_at)
        not_reminded = col(Campaign.hold_reminded_for).is_distinct_from(expires)
        return await self._locked_batch(sa.and_(expires <= before, expires > now, not_reminded), expires, limit)

    async def unanswered(self, asked_before: datetime, limit: int) -> list[models.Campaign]:
        """Campaigns whose last request to materials went out before `asked_before`, unanswered."""
        return await self._locked_batch(
            sa.and_(
                col(Campaign.materials_requested_at).is_not(None), col(Campaign.materials_asked_at) <= asked_before
            ),
            col(Campaign.materials_asked_at),
            limit,
        )

    async def _locked_batch(
        self, due: sa.ColumnElement[bool], oldest_first: sa.ColumnElement, limit: int
    ) -> list[models.Campaign]:
        unsettled = col(Campaign.status).in_([s.value for s in CAMPAIGN_UNSETTLED])
        query = select(Campaign).where(due, unsettled).order_by(oldest_first).limit(limit)
        return list(await self.session.exec(query.with_for_update(skip_locked=True)))

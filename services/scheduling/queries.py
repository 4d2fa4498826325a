"""The reads the scheduling API answers with: bookings (one, a list, those relying on approvals, a
calendar, a history), slots
(a facility's own, and the search), the waitlist, scheduling's view of a facility, the public
directory's open capacity by month; technical agreements (one, a side's list, a history);
manufacturing requests with their quotes (one, a list, a history); and the count the saga's gauge shows. SQL, and no changes."""

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.scheduling import agreements, campaigns, models, requests
from services.scheduling.bookings import may_inspect
from services.scheduling.domain import OPEN_BOOKING_STATUSES, SlotFilters
from services.scheduling.repository import (
    FACILITY,
    OPEN,
    PERIOD_FILTERS,
    SITE,
    SLOT,
    SLOT_SITE,
    SUITE,
    available,
    available_sites,
    filter_values,
    valid_certificate_exists,
)
from shared.auth import Principal, Role
from shared.database import Database, DriverStatement, event_history
from shared.problems import BadRequest, NotFound

Booking, Slot = models.Booking, models.Slot

# --- bookings -----------------------------------------------------------------------------------


async def booking(session: AsyncSession, principal: Principal, booking_id: UUID) -> models.Booking:
    row = await session.get(Booking, booking_id)
    if row is None or not may_inspect(principal, row):
        raise NotFound(f"No booking {booking_id}.")  # do not reveal others' bookings
    return row


async def history(session: AsyncSession, principal: Principal, booking_id: UUID) -> list[dict[str, Any]]:
    """Every event of the booking, oldest first."""
    await booking(session, principal, booking_id)
    return await event_history(session, str(booking_id))


@dataclass(frozen=True)
class BookingListing:
    """What every list of bookings takes: a state, flagged or not, a page."""

    status: str | None = None
    at_risk: bool | None = None
    limit: int = 200
    offset: int = 0


async def org_bookings(session: AsyncSession, org_id: str | None, listing: BookingListing) -> list[models.Booking]:
    return await _bookings(session, col(Booking.org_id) == org_id, listing)


async def facility_bookings(
    session: AsyncSession, facility_ids: Sequence[UUID], listing: BookingListing
) -> list[models.Booking]:
    return await _bookings(session, col(Booking.facility_id).in_(facility_ids), listing)


async def every_booking(session: AsyncSession, listing: BookingListing) -> list[models.Booking]:
    return await _bookings(session, sa.true(), listing)


async def _bookings(
    session: AsyncSession, scope: sa.ColumnElement[bool], listing: BookingListing
) -> list[models.Booking]:
    query = select(Booking).where(scope)
    if listing.status:
        query = query.where(Booking.status == listing.status)
    if listing.at_risk is not None:
        risky = sa.func.cardinality(col(Booking.at_risk_reasons)) > 0
        query = query.where(risky if listing.at_risk else sa.not_(risky))
    query = query.order_by(col(Booking.starts_at), col(Booking.id)).offset(listing.offset).limit(listing.limit)
    return list(await session.exec(query))


async def relying_on(
    session: AsyncSession, approval_ids: Sequence[UUID], authority: str | None, now: datetime
) -> list[models.Booking]:
    """The live bookings (held, awaiting materials or short of them, confirmed) whose run has not
    ended and that rely on these approvals, by start; with an authority, only those relying on an
    approval filed with it (what a suspension of theirs would reach)."""
    query = select(Booking).where(
        col(Booking.approval_id).in_(approval_ids),
        col(Booking.status).in_([s.value for s in OPEN_BOOKING_STATUSES]),
        col(Booking.ends_at) > now,
    )
    if authority is not None:
        filed_with = select(models.ApprovalView.approval_id).where(models.ApprovalView.authority == authority)
        query = query.where(col(Booking.approval_id).in_(filed_with))
    return list(await session.exec(query.order_by(col(Booking.starts_at), col(Booking.id))))


async def org_calendar(session: AsyncSession, org_id: str) -> list[models.Booking]:
    """Every booking of the organisation, by start: its calendar feed."""
    return await _calendar(session, col(Booking.org_id) == org_id)


async def facility_calendar(session: AsyncSession, facility_id: UUID) -> list[models.Booking]:
    """Every booking at the facility, by start: its calendar feed."""
    return await _calendar(session, col(Booking.facility_id) == facility_id)


async def _calendar(session: AsyncSession, scope: sa.ColumnElement[bool]) -> list[models.Booking]:
    return list(await session.exec(select(Booking).where(scope).order_by(col(Booking.starts_at))))


async def overdue_sagas(session: AsyncSession) -> int:
    """Bookings and campaigns escalated because materials has not answered (the sagas' partial
    indexes count them)."""
    overdue = 0
    for saga in (Booking, models.Campaign):
        overdue += (
            await session.scalar(
                sa.select(sa.func.count()).where(
                    # only those still awaiting materials can be overdue: the saga's partial index
                    col(saga.materials_requested_at).is_not(None),
                    col(saga.materials_overdue_since).is_not(None),
                )
            )
            or 0
        )
    return overdue


# --- slots --------------------------------------------------------------------------------------


async def facility_slots(
    session: AsyncSession,
    facility_id: UUID,
    *,
    starts_from: datetime | None,
    status: str | None,
    limit: int,
    offset: int,
) -> list[models.Slot]:
    """A facility's own slots in every status (or one), by start."""
    query = select(Slot).where(Slot.facility_id == facility_id)
    if starts_from:
        query = query.where(col(Slot.starts_at) >= starts_from)
    if status:
        query = query.where(Slot.status == status)
    query = query.order_by(col(Slot.starts_at), col(Slot.id)).offset(offset).limit(limit)
    return list(await session.exec(query))


# The search first finds the suites that match the filters (of active, certified facilities: a few
# hundred at most), then the first open slots of those suites on the slot table alone, and joins
# them to their suites and facilities for the page only. One statement joining the three left the
# join order to the planner's guess at how many suites match, a guess a kept plan cannot revise: a
# generic plan that expected 2 suites where 51 matched crossed them with every certificate and read
# 5 million rows (1.5 s a search).
AFTER = sa.tuple_(
    sa.bindparam("after_starts_at", type_=SLOT.c.starts_at.type), sa.bindparam("after_id", type_=SLOT.c.id.type)
)
# Up to this many matching suites, each one's first slots come from its own index (at most a page
# each) and are merged; from more on, the slots are walked in time order for open ones of a
# matching suite, which ends soon when many match (and reads at most a page × all suites ÷ this
# many where few slots match).
PER_SUITE_UP_TO = 16
ANSWERED_OF_A_SLOT = ("id", "suite_id", "facility_id", "starts_at", "ends_at", "status", "booking_id", "status_reason")


def _answer(slot: sa.FromClause) -> tuple[sa.ColumnElement, ...]:
    """What the search answers of each slot: the slot, its suite's name and capabilities, its facility."""
    return (
        _text(slot.c.id).label("slot_id"), _text(slot.c.suite_id).label("suite_id"),
        _text(slot.c.facility_id).label("facility_id"), slot.c.starts_at, slot.c.ends_at, slot.c.status,
        _text(slot.c.booking_id).label("booking_id"), slot.c.status_reason, SUITE.c.name.label("suite_name"),
        SUITE.c.cleanroom_grade, SUITE.c.atmp_types, SUITE.c.processes, FACILITY.c.legal_name.label("facility_name"),
        FACILITY.c.country, FACILITY.c.oms_location_id.label("facility_oms_location_id"),
    )  # fmt: skip


def _text(column: sa.ColumnElement) -> sa.ColumnElement[str]:
    """Ids as text: the answer writes them so anyway, and a driver's UUID object costs JSON encoding
    five times a string's (50 slots: 466 µs against 88 µs)."""
    return sa.cast(column, sa.Text)


async def search_slots(
    db: Database, filters: SlotFilters, *, after: str | None, limit: int
) -> tuple[list[Mapping[str, Any]], str | None]:
    """A page of available slots (records with the columns of `_answer`), and the cursor of the
    next page (None on the last). Keyset pagination on (starts_at, id) keeps every page as cheap as
    the first."""
    values: dict[str, Any] = filter_values(filters)
    search = _search(tuple(values), paged=bool(after), limit=limit + 1)  # one more than a page: is there a next?
    if after:
        values["after_starts_at"], values["after_id"] = _decode_cursor(after)
    rows = await db.search(search.sql, *search.arguments(values))
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


@cache
def _search(given: tuple[str, ...], *, paged: bool, limit: int) -> DriverStatement:
    """The search for these filters and this page size, compiled once. The limit is written into
    the SQL, for the plan (a few page sizes: a few statements). Both ways of reading the slots are
    in the one statement, each behind a condition on the number of suites that PostgreSQL checks
    once, before reading any slot; each has one plan whatever the values (`Database.search`)."""
    top = sa.literal_column(str(int(limit)))
    sites = sa.select(sa.func.array_agg(SUITE.c.suite_id).label("ids")).select_from(SITE)
    sites_cte = sites.where(*available_sites(given)).cte("sites")
    suite_ids = sa.select(sites_cte.c.ids).scalar_subquery()
    few = sa.func.coalesce(sa.func.cardinality(suite_ids), sa.literal_column("0")) <= sa.literal_column(
        str(PER_SUITE_UP_TO)
    )

    def first_open(of_suites: sa.ColumnElement[bool]) -> sa.Select[Any]:
        query = sa.select(*(SLOT.c[name] for name in ANSWERED_OF_A_SLOT)).where(
            SLOT.c.status == OPEN, of_suites, *(PERIOD_FILTERS[name] for name in given if name in PERIOD_FILTERS)
        )
        if paged:  # the start alone too: the bound a suite's index (suite, start) can use
            query = query.where(sa.tuple_(SLOT.c.starts_at, SLOT.c.id) > AFTER, SLOT.c.starts_at >= AFTER.clauses[0])
        return query.order_by(SLOT.c.starts_at, SLOT.c.id).limit(top)

    wanted = sa.select(sa.func.unnest(suite_ids).label("suite_id")).where(few).subquery("wanted")
    each = first_open(SLOT.c.suite_id == wanted.c.suite_id).lateral("each")
    suite_by_suite = sa.select(each).select_from(wanted.join(each, sa.true()))
    # A set PostgreSQL hashes once (an array parameter it searches element by element, 12 ms against
    # 0.65 for a date range), asked through `IS TRUE`: a condition no index serves, so the walk stays a
    # walk along the slots in time order, whatever a kept plan would guess of the suites' share.
    of_sites = SLOT.c.suite_id.in_(sa.select(sa.func.unnest(sites_cte.c.ids)))
    walk = first_open(sa.and_(sa.not_(few), of_sites.is_(sa.true())))
    page = sa.union_all(suite_by_suite.order_by(each.c.starts_at, each.c.id).limit(top), walk).subquery("page")
    with_sites = page.join(SUITE, SUITE.c.suite_id == page.c.suite_id).join(
        FACILITY, FACILITY.c.facility_id == page.c.facility_id
    )
    query = sa.select(*_answer(page)).select_from(with_sites).order_by(page.c.starts_at, page.c.id)
    return DriverStatement.of(query)


def _encode_cursor(slot: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(f"{slot['starts_at'].isoformat()}|{slot['slot_id']}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        starts_at, slot_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(starts_at), UUID(slot_id)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The `after` cursor is not one this service gave out.") from None


# --- the waitlist and the replicas ----------------------------------------------------------------


WAITLIST = models.WaitlistEntry.__table__
# Criteria a slot has one value of: two entries naming different values never want the same slot.
# A suite lists several ATMP types and processes, so those never keep entries apart.
ONE_VALUE_PER_SLOT = ("country", "cleanroom_grade", "facility_id", "suite_id")
# A literal, so the partial index on waiting entries serves the count (see `OPEN`).
WAITING = sa.literal_column("'waiting'")


def _position() -> sa.ColumnElement[Any]:
    """1 + the waiting entries ahead in the offers' order (joined earlier, then by id) that one slot
    could match as well as this one; NULL for an entry not waiting."""
    me, ahead = WAITLIST, WAITLIST.alias("ahead")
    both = [sa.func.coalesce(ahead.c[name] == me.c[name], True) for name in ONE_VALUE_PER_SLOT]
    # A slot for both starts at or after both earliest starts and ends by both latest ends.
    period = sa.func.greatest(ahead.c.earliest_start, me.c.earliest_start) < sa.func.least(
        ahead.c.latest_end, me.c.latest_end
    )
    rivals = (
        sa.select(sa.func.count())
        .select_from(ahead)
        .where(
            ahead.c.status == WAITING,
            sa.tuple_(ahead.c.created_at, ahead.c.id) < sa.tuple_(me.c.created_at, me.c.id),
            *both,
            sa.func.coalesce(period, True),
        )
        .scalar_subquery()
    )
    return sa.case((me.c.status == "waiting", rivals + 1), else_=sa.null()).label("position")


async def waitlist(
    session: AsyncSession, org_id: str | None, entry_id: UUID | None = None
) -> list[tuple[models.WaitlistEntry, int | None]]:
    """The organisation's waitlist entries (everyone's for None; or the one `entry_id`), oldest
    first, each with its position in line (`_position`)."""
    query = select(models.WaitlistEntry, _position()).order_by(
        col(models.WaitlistEntry.created_at), col(models.WaitlistEntry.id)
    )
    if org_id is not None:
        query = query.where(models.WaitlistEntry.org_id == org_id)
    if entry_id is not None:
        query = query.where(models.WaitlistEntry.id == entry_id)
    return [(entry, position) for entry, position in await session.exec(query)]


async def facility(session: AsyncSession, facility_id: UUID) -> models.FacilityView:
    view = await session.get(models.FacilityView, facility_id)
    if view is None:
        raise NotFound(f"Scheduling knows no facility {facility_id} (yet).")
    return view


# --- the public directory -----------------------------------------------------------------------


def months_from(moment: datetime, count: int) -> list[datetime]:
    """The first instants (UTC) of the month of `moment` and of the `count` months after it."""
    first = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return [first.replace(year=first.year + (first.month - 1 + i) // 12, month=(first.month - 1 + i) % 12 + 1)
            for i in range(count + 1)]  # fmt: skip


@dataclass(frozen=True)
class OpenCapacity:
    suites: list[Mapping[str, Any]]  # suite_id, name, cleanroom_grade of the facility's live suites
    counts: dict[tuple[UUID, datetime], int]  # (suite, month) -> open slots starting in it


async def open_capacity(session: AsyncSession, facility_id: UUID, since: datetime, until: datetime) -> OpenCapacity:
    """How many available slots (open, bookable: the search's own conditions) start in each month
    from `since` to `until`, per live suite of a facility that is active and certified today. Of
    any other facility nothing is said: it is not found, whether scheduling knows it or not."""
    listed = await session.scalar(
        sa.select(FACILITY.c.facility_id).where(
            FACILITY.c.facility_id == facility_id,
            FACILITY.c.active.is_(True),
            valid_certificate_exists(FACILITY.c.facility_id),
        )
    )
    if listed is None:
        raise NotFound(f"No facility {facility_id} in the public directory.")
    suites = (
        await session.execute(
            sa.select(SUITE.c.suite_id, SUITE.c.name, SUITE.c.cleanroom_grade)
            .where(SUITE.c.facility_id == facility_id, SUITE.c.retired.is_(False))
            .order_by(SUITE.c.name)
        )
    ).mappings()
    # Literals, not parameters: GROUP BY must repeat the SELECT's expression exactly.
    utc_month = sa.literal_column("'month'"), SLOT.c.starts_at, sa.literal_column("'UTC'")
    month = sa.func.date_trunc(*utc_month).label("month")
    rows = await session.execute(
        sa.select(SLOT.c.suite_id, month, sa.func.count().label("open_slots"))
        .select_from(SLOT_SITE)
        .where(*available(("facility_id", "starts_from")), SLOT.c.starts_at < until)
        .group_by(SLOT.c.suite_id, month),
        {"facility_id": facility_id, "starts_from": since},
    )
    counts = {(row.suite_id, row.month.astimezone(UTC)): row.open_slots for row in rows}
    return OpenCapacity(list(suites), counts)


# --- technical agreements -----------------------------------------------------------------------

Agreement = models.TechnicalAgreement


async def agreement(session: AsyncSession, principal: Principal, agreement_id: UUID) -> models.TechnicalAgreement:
    row = await session.get(Agreement, agreement_id)
    if row is None or not agreements.may_read(principal, row):
        raise NotFound(f"No agreement {agreement_id}.")  # do not reveal others' agreements
    return row


async def agreement_history(session: AsyncSession, principal: Principal, agreement_id: UUID) -> list[dict[str, Any]]:
    """Every event of the agreement, oldest first."""
    await agreement(session, principal, agreement_id)
    return await event_history(session, str(agreement_id))


async def agreements_of(
    session: AsyncSession, *, org_id: str | None = None, facility_id: UUID | None = None, status: str | None = None
) -> list[models.TechnicalAgreement]:
    """An organisation's or a facility's agreements, newest first."""
    query = select(Agreement)
    if org_id is not None:
        query = query.where(Agreement.org_id == org_id)
    if facility_id is not None:
        query = query.where(Agreement.facility_id == facility_id)
    if status is not None:
        query = query.where(Agreement.status == status)
    return list(await session.exec(query.order_by(col(Agreement.created_at).desc(), col(Agreement.id))))


# --- manufacturing requests and quotes ---------------------------------------------------------------

Request, Quote = models.ManufacturingRequest, models.Quote


async def request(
    session: AsyncSession, principal: Principal, request_id: UUID
) -> tuple[models.ManufacturingRequest, list[models.Quote]]:
    """The request and the quotes the caller may see of it (a facility user: its own)."""
    row = await session.get(Request, request_id)
    if row is None or not requests.may_read(principal, row):
        raise NotFound(f"No request {request_id}.")  # do not reveal others' requests
    quotes = await quotes_of(session, [row.id])
    return row, [q for q in quotes.get(row.id, []) if requests.may_read_quote(principal, q)]


async def quote(session: AsyncSession, principal: Principal, request_id: UUID, quote_id: UUID) -> models.Quote:
    _, visible = await request(session, principal, request_id)
    found = next((q for q in visible if q.id == quote_id), None)
    if found is None:
        raise NotFound(f"No quote {quote_id} on request {request_id}.")
    return found


async def request_history(session: AsyncSession, principal: Principal, request_id: UUID) -> list[dict[str, Any]]:
    """Every event of the request and its quotes, oldest first; a facility user's without the other
    facilities' quotes and declines, and naming only their own facilities among those addressed."""
    row, _ = await request(session, principal, request_id)
    history = await event_history(session, str(request_id))
    mine = requests.shown_facilities(principal, row)
    if mine is None:
        return history
    shown = {str(f) for f in mine}
    seen = []
    for event in history:
        data = event["data"]
        facility = data.get("quote", {}).get("facility_id") or data.get("facility_id")
        if facility is not None and facility not in shown:
            continue
        if "request" in data:
            addressed = [f for f in data["request"]["facility_ids"] if f in shown]
            event = event | {"data": data | {"request": data["request"] | {"facility_ids": addressed}}}
        seen.append(event)
    return seen


async def requests_of(
    session: AsyncSession,
    principal: Principal,
    *,
    org_id: str | None = None,
    facility_id: UUID | None = None,
    status: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[tuple[models.ManufacturingRequest, list[models.Quote]]]:
    """An organisation's requests, or those addressed to a facility, newest first, each with the
    quotes the caller may see."""
    query = select(Request)
    if org_id is not None:
        query = query.where(Request.org_id == org_id)
    if facility_id is not None:
        query = query.where(col(Request.facility_ids).contains([facility_id]))
    if status is not None:
        query = query.where(Request.status == status)
    query = query.order_by(col(Request.created_at).desc(), col(Request.id)).offset(offset).limit(limit)
    rows = list(await session.exec(query))
    quotes = await quotes_of(session, [r.id for r in rows])
    return [(r, [q for q in quotes.get(r.id, []) if requests.may_read_quote(principal, q)]) for r in rows]


async def quotes_of(session: AsyncSession, request_ids: Sequence[UUID]) -> dict[UUID, list[models.Quote]]:
    """The quotes of these requests, each request's oldest first."""
    if not request_ids:
        return {}
    rows = await session.exec(
        select(Quote).where(col(Quote.request_id).in_(request_ids)).order_by(col(Quote.created_at), col(Quote.id))
    )
    found: dict[UUID, list[models.Quote]] = {}
    for q in rows:
        found.setdefault(q.request_id, []).append(q)
    return found


# --- subscriptions -----------------------------------------------------------------------------


async def subscriptions(session: AsyncSession, principal: Principal) -> list[models.Subscription]:
    """The subscriptions of the caller's organisation or facilities (all for the hub operator), oldest first."""
    s = models.Subscription
    query = select(s).order_by(col(s.created_at))
    if principal.role is Role.DEVELOPER:
        query = query.where(col(s.org_id) == principal.org_id)
    elif not principal.is_admin:
        query = query.where(col(s.facility_id).in_([UUID(f) for f in principal.facility_ids]))
    return list(await session.exec(query))


# --- campaigns ----------------------------------------------------------------------------------

Campaign = models.Campaign


async def campaign(
    session: AsyncSession, principal: Principal, campaign_id: UUID
) -> tuple[models.Campaign, list[models.Booking]]:
    row = await session.get(Campaign, campaign_id)
    if row is None or not campaigns.may_inspect(principal, row):
        raise NotFound(f"No campaign {campaign_id}.")  # do not reveal others' campaigns
    return row, (await batches_of(session, [row.id])).get(row.id, [])


async def campaign_history(session: AsyncSession, principal: Principal, campaign_id: UUID) -> list[dict[str, Any]]:
    """Every event of the campaign and of its batches (each a booking), oldest first."""
    row, batches = await campaign(session, principal, campaign_id)
    return await event_history(session, str(row.id), *(str(b.id) for b in batches), limit=2000)


async def campaigns_of(
    session: AsyncSession,
    *,
    org_id: str | None = None,
    facility_id: UUID | None = None,
    status: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[tuple[models.Campaign, list[models.Booking]]]:
    """An organisation's or a facility's campaigns, newest first, each with its batches."""
    query = select(Campaign)
    if org_id is not None:
        query = query.where(Campaign.org_id == org_id)
    if facility_id is not None:
        query = query.where(Campaign.facility_id == facility_id)
    if status is not None:
        query = query.where(Campaign.status == status)
    query = query.order_by(col(Campaign.created_at).desc(), col(Campaign.id)).offset(offset).limit(limit)
    rows = list(await session.exec(query))
    found = await batches_of(session, [r.id for r in rows])
    return [(r, found.get(r.id, [])) for r in rows]


async def batches_of(session: AsyncSession, campaign_ids: Sequence[UUID]) -> dict[UUID, list[models.Booking]]:
    if not campaign_ids:
        return {}
    rows = await session.exec(select(Booking).where(col(Booking.campaign_id).in_(campaign_ids)))
    found: dict[UUID, list[models.Booking]] = {}
    for b in rows:
        assert b.campaign_id is not None
        found.setdefault(b.campaign_id, []).append(b)
    return found

"""Scheduling's unit of work in memory: the repositories of services/scheduling/repository.py over
plain dicts, the events emitted in order, and whether the use case's caller committed. The fake
selects and orders rows as the SQL does; locks it leaves to the integration tests
(tests/integration/scheduling/test_race.py proves FOR UPDATE NOWAIT)."""

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic

import sqlalchemy as sa

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
from services.scheduling.repository import Aggregate, View
from shared.auth import Principal, Role
from shared.errors import Conflict
from tests.unit.fakes import FakeDeliveries, FakeSubscriptions, InMemoryUnitOfWork

UNSETTLED = (BookingStatus.HELD, BookingStatus.MATERIALS_SHORT)


@dataclass
class Store:
    """What the database would hold, shared by the units of work of one test."""

    slots: dict[uuid.UUID, models.Slot] = field(default_factory=dict)
    bookings: dict[uuid.UUID, models.Booking] = field(default_factory=dict)
    entries: dict[uuid.UUID, models.WaitlistEntry] = field(default_factory=dict)
    views: dict[tuple[type, Any], models.Table] = field(default_factory=dict)
    answers: dict[tuple[str, str], models.IdempotencyRecord] = field(default_factory=dict)
    claims: dict[tuple[str, str], str] = field(default_factory=dict)  # keys taken, answer not yet given
    agreements: dict[uuid.UUID, models.TechnicalAgreement] = field(default_factory=dict)
    requests: dict[uuid.UUID, models.ManufacturingRequest] = field(default_factory=dict)
    quotes: dict[uuid.UUID, models.Quote] = field(default_factory=dict)
    taking: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)  # a hold's slots, until its booking
    reminded: set[tuple[uuid.UUID, datetime]] = field(default_factory=set)  # (booking, hold expiry)
    subscriptions: FakeSubscriptions = field(default_factory=FakeSubscriptions)
    campaigns: dict[uuid.UUID, models.Campaign] = field(default_factory=dict)

    def put(self, *rows: models.Table) -> None:
        """Rows as the database holds them already (what a test starts from)."""
        for row in rows:
            if isinstance(row, models.Slot):
                self.slots[row.id] = row
            elif isinstance(row, models.Booking):
                self.bookings[row.id] = row
            elif isinstance(row, models.WaitlistEntry):
                self.entries[row.id] = row
            else:
                [key] = sa.inspect(type(row)).primary_key
                self.views[(type(row), getattr(row, key.key))] = row


class FakeUnitOfWork(InMemoryUnitOfWork):
    """Same attributes as SchedulingUnitOfWork: the repositories, `actor`, `emit` and `commit`."""

    def __init__(self, actor: str | None = "developer:dev-1", store: Store | None = None) -> None:
        super().__init__(actor)
        self.store = store or Store()
        self.slots = FakeSlots(self.store, actor)
        self.bookings = FakeBookings(self.store)
        self.waitlist = FakeWaitlistEntries(self.store)
        self.replicas = FakeReplicas(self.store)
        self.idempotency_keys = FakeIdempotencyKeys(self.store)
        self.agreements = FakeAgreements(self.store)
        self.requests = FakeRequests(self.store)
        self.quotes = FakeQuotes(self.store)
        self.subscriptions = self.store.subscriptions
        self.deliveries = FakeDeliveries(self.subscriptions, models.WEBHOOK_TABLES)
        self.campaigns = FakeCampaigns(self.store)

    def next(self, actor: str | None = None) -> "FakeUnitOfWork":
        """The next transaction on the same data (by the same actor unless another is named)."""
        return FakeUnitOfWork(actor or self.actor, self.store)

    def types(self) -> list[str]:
        """The types of the events emitted, in order (their last two words: `booking.held`)."""
        return [".".join(e.type.split(".")[2:4]) for e in self.events]


class FakeSlots:
    def __init__(self, store: Store, actor: str | None) -> None:
        self.store, self.actor = store, actor

    async def resample_if_grown(self, added: int) -> bool:
        return False  # no planner here to keep statistics for

    async def lock(self, slot_ids: Sequence[uuid.UUID]) -> list[models.Slot]:
        return sorted((self.store.slots[i] for i in set(slot_ids) if i in self.store.slots), key=lambda s: s.id)

    async def claim(self, slot_ids: Sequence[uuid.UUID]) -> list[SlotFacts]:
        views = self.store.views
        claimed = []
        for slot in await self.lock(slot_ids):
            suite = views.get((models.SuiteView, slot.suite_id))
            facility = views.get((models.FacilityView, slot.facility_id))
            claimed.append(
                SlotFacts(
                    slot.id,
                    slot.suite_id,
                    slot.facility_id,
                    slot.starts_at,
                    slot.ends_at,
                    slot.status,
                    suite_retired=suite.retired if isinstance(suite, models.SuiteView) else None,
                    country=facility.country if isinstance(facility, models.FacilityView) else None,
                    certificates=tuple(_certificates(self.store, slot.facility_id)),
                )  # fmt: skip
            )
        return claimed

    async def take(self, slot_ids: Sequence[uuid.UUID], booking_id: uuid.UUID) -> list[SlotFacts]:
        """The open slots, as the statement takes them. This store cannot roll a refused hold back,
        so the slots move when the booking is added, as both land together in one transaction."""
        taken = [f for f in await self.claim(slot_ids) if f.status == SlotStatus.OPEN]
        self.store.taking[booking_id] = [f.id for f in taken]
        return [dataclasses.replace(f, status=SlotStatus.HELD.value) for f in taken]

    async def move(
        self,
        slot_ids: Sequence[uuid.UUID],
        status: SlotStatus,
        booking_id: uuid.UUID | None,
        *,
        reason: str | None = None,
        only_from: Sequence[SlotStatus] | None = None,
    ) -> list[uuid.UUID]:
        moved = []
        for slot in (self.store.slots[i] for i in slot_ids if i in self.store.slots):
            if only_from is None or slot.status in only_from:
                slot.status, slot.booking_id, slot.status_reason = status.value, booking_id, reason
                slot.version += 1
                slot.updated_by = self.actor or "unknown"
                moved.append(slot.id)
        return moved

    async def hold_for_quote(self, slot_ids: Sequence[uuid.UUID], quote_id: uuid.UUID, reason: str) -> list[uuid.UUID]:
        return self._quote_move(slot_ids, SlotStatus.OPEN, None, SlotStatus.QUOTED, quote_id, reason)

    async def release_quoted(self, slot_ids: Sequence[uuid.UUID], quote_id: uuid.UUID) -> list[uuid.UUID]:
        return self._quote_move(slot_ids, SlotStatus.QUOTED, quote_id, SlotStatus.OPEN, None, None)

    async def hold_quoted_for_batches(
        self, quote_id: uuid.UUID, batches: Sequence[tuple[uuid.UUID, uuid.UUID]]
    ) -> list[uuid.UUID]:
        held = self._quote_move([s for s, _ in batches], SlotStatus.QUOTED, quote_id, SlotStatus.HELD, None, None)
        for slot_id, booking_id in batches:
            if slot_id in held:
                self.store.slots[slot_id].booking_id = booking_id
        return held

    def _quote_move(
        self,
        slot_ids: Sequence[uuid.UUID],
        source: SlotStatus,
        holder: uuid.UUID | None,
        target: SlotStatus,
        quote_id: uuid.UUID | None,
        reason: str | None,
    ) -> list[uuid.UUID]:
        moved = []
        for slot in (self.store.slots[i] for i in slot_ids if i in self.store.slots):
            if slot.status == source and (holder is None or slot.quote_id == holder):
                slot.status, slot.quote_id, slot.status_reason = target.value, quote_id, reason
                slot.version += 1
                slot.updated_by = self.actor or "unknown"
                moved.append(slot.id)
        return moved

    async def add(self, slots: Sequence[models.Slot]) -> None:
        for new in slots:  # the exclusion constraint
            if any(_overlap(new, old) for old in self._live(new.suite_id)):
                raise Conflict("The slots overlap slots published at the same moment on this suite.")
        self.store.slots |= {s.id: s for s in slots}

    async def live_periods_within(self, suite_id: uuid.UUID, span: Period) -> list[Period]:
        return [Period(s.starts_at, s.ends_at) for s in self._live(suite_id) if _overlap(s, span)]

    async def available(self, filters: SlotFilters, limit: int) -> list[uuid.UUID]:
        return [s.id for s in self._available(self.store.slots.values(), filters)[:limit]]

    async def first_available_of(self, slot_ids: Sequence[uuid.UUID], filters: SlotFilters) -> models.Slot | None:
        found = self._available((self.store.slots[i] for i in slot_ids if i in self.store.slots), filters)
        return found[0] if found else None

    def _live(self, suite_id: uuid.UUID) -> list[models.Slot]:
        return [s for s in self.store.slots.values() if s.suite_id == suite_id and s.status != SlotStatus.WITHDRAWN]

    def _available(self, slots: Any, filters: SlotFilters) -> list[models.Slot]:
        views = self.store.views
        found = []
        for slot in slots:
            suite = views.get((models.SuiteView, slot.suite_id))
            facility = views.get((models.FacilityView, slot.facility_id))
            if slot.status != SlotStatus.OPEN or suite is None or suite.retired or facility is None:
                continue
            if (
                facility.active
                and _certified(self.store, slot.facility_id)
                and _matches(filters, slot, suite, facility)
            ):
                found.append(slot)
        return sorted(found, key=lambda s: s.starts_at)


def _overlap(a: Any, b: Any) -> bool:
    return a.starts_at < b.ends_at and b.starts_at < a.ends_at


def _certified(store: Store, facility_id: uuid.UUID) -> bool:
    today = models.now().date()
    return any(
        c.facility_id == facility_id and c.status == "valid" and c.expires_on >= today
        for c in _views(store, models.CertificateView)
    )


def _matches(f: SlotFilters, slot: models.Slot, suite: models.SuiteView, facility: models.FacilityView) -> bool:
    checks = [
        (f.starts_from, lambda v: slot.starts_at >= v),
        (f.ends_before, lambda v: slot.ends_at <= v),
    ]
    return all(check(value) for value, check in checks if value is not None) and _site_matches(f, suite, facility)


def _site_matches(f: SlotFilters, suite: models.SuiteView, facility: models.FacilityView) -> bool:
    checks = [
        (f.country, lambda v: facility.country == v),
        (f.atmp_type, lambda v: v in suite.atmp_types),
        (f.process, lambda v: v in suite.processes),
        (f.cleanroom_grade, lambda v: suite.cleanroom_grade == v),
        (f.facility_id, lambda v: suite.facility_id == v),
        (f.suite_id, lambda v: suite.suite_id == v),
    ]
    return all(check(value) for value, check in checks if value is not None)


def _certificates(store: Store, facility_id: uuid.UUID) -> list[CertificateFacts]:
    return [
        CertificateFacts(c.number, c.status, c.expires_on, c.reason)
        for c in _views(store, models.CertificateView)
        if c.facility_id == facility_id
    ]


def _views(store: Store, view_class: type[View]) -> list[View]:
    return [v for (kind, _), v in store.views.items() if kind is view_class]  # type: ignore[misc]


class FakeBookings:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, booking_id: uuid.UUID, *, lock: bool = False) -> models.Booking | None:
        return self.store.bookings.get(booking_id)

    async def add(self, booking: models.Booking) -> None:
        self.store.bookings[booking.id] = booking
        self._take(booking)

    def _take(self, booking: models.Booking) -> None:
        for slot_id in self.store.taking.pop(booking.id, []):
            slot = self.store.slots[slot_id]
            slot.status, slot.booking_id, slot.status_reason = SlotStatus.HELD.value, booking.id, None
            slot.version += 1

    def add_with_events(self, booking: models.Booking) -> None:
        # Written at once: nothing here fails at commit as a statement can.
        self.store.bookings[booking.id] = booking
        self._take(booking)

    async def save(self, booking: models.Booking) -> None:
        self.store.bookings[booking.id] = booking

    async def overdue_holds(self, now: datetime, limit: int) -> list[models.Booking]:
        due = [b for b in self._unsettled() if b.hold_expires_at is not None and b.hold_expires_at <= now]
        return sorted(due, key=lambda b: b.hold_expires_at)[:limit]

    async def unanswered(self, asked_before: datetime, limit: int) -> list[models.Booking]:
        due = [
            b
            for b in self._unsettled()
            if b.materials_requested_at is not None
            and b.materials_asked_at is not None
            and b.materials_asked_at <= asked_before
        ]
        return sorted(due, key=lambda b: b.materials_asked_at)[:limit]

    async def holds_expiring(self, before: datetime, now: datetime, limit: int) -> list[models.Booking]:
        due = [
            b
            for b in self._unsettled()
            if b.hold_expires_at is not None
            and now < b.hold_expires_at <= before
            and (b.id, b.hold_expires_at) not in self.store.reminded
        ]
        return sorted(due, key=lambda b: b.hold_expires_at)[:limit]

    async def remember_reminder(self, booking: models.Booking) -> None:
        self.store.reminded.add((booking.id, booking.hold_expires_at))

    async def future_open_at(self, facility_id: uuid.UUID, now: datetime) -> list[models.Booking]:
        return self._future_open(lambda b: b.facility_id == facility_id, now)

    async def future_open_needing(self, material_id: uuid.UUID, now: datetime) -> list[models.Booking]:
        return self._future_open(lambda b: any(n["material_id"] == str(material_id) for n in b.material_needs), now)

    async def future_open_relying_on(self, approval_id: uuid.UUID, now: datetime) -> list[models.Booking]:
        return self._future_open(lambda b: b.approval_id == approval_id, now)

    async def future_open_among(self, booking_ids: Sequence[uuid.UUID], now: datetime) -> list[models.Booking]:
        return self._future_open(lambda b: b.id in booking_ids, now)

    def _unsettled(self) -> list[models.Booking]:
        return [b for b in self.store.bookings.values() if b.status in UNSETTLED]

    def _future_open(self, which: Any, now: datetime) -> list[models.Booking]:
        found = [
            b
            for b in self.store.bookings.values()
            if b.status in OPEN_BOOKING_STATUSES and b.ends_at > now and which(b)
        ]
        return sorted(found, key=lambda b: b.starts_at)


class _FakeAggregates(Generic[Aggregate]):
    """An aggregate's rows in the store (its dict named `rows`), fetched by id and saved."""

    rows: str

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, aggregate_id: uuid.UUID, *, lock: bool = False) -> Aggregate | None:
        return getattr(self.store, self.rows).get(aggregate_id)

    async def save(self, aggregate: Aggregate) -> None:
        getattr(self.store, self.rows)[aggregate.id] = aggregate


class FakeWaitlistEntries(_FakeAggregates[models.WaitlistEntry]):
    rows = "entries"

    async def waiting(self) -> list[models.WaitlistEntry]:
        return sorted(
            (e for e in self.store.entries.values() if e.status == "waiting"), key=lambda e: (e.created_at, e.id)
        )


class FakeReplicas:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, view_class: type[View], key: uuid.UUID, *, lock: bool = False) -> View | None:
        return self.store.views.get((view_class, key))  # type: ignore[return-value]

    async def active_facilities(self, facility_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        views = (self.store.views.get((models.FacilityView, f)) for f in facility_ids)
        return {v.facility_id for v in views if v is not None and v.active}  # type: ignore[attr-defined]

    async def record(self, view_class: type[View], state: dict[str, Any]) -> bool:
        return self._hold(view_class, state)

    def stage(self, view_class: type[View], state: dict[str, Any]) -> None:
        self._hold(view_class, state)  # held at once: what a read or a commit would see

    async def flush(self) -> None:
        pass

    def _hold(self, view_class: type[View], state: dict[str, Any]) -> bool:
        view = view_class.model_validate(state)
        [key] = sa.inspect(view_class).primary_key
        held = self.store.views.get((view_class, getattr(view, key.key)))
        if held is not None and held.version >= view.version:  # type: ignore[attr-defined]
            return False
        self.store.put(view)
        return True

    async def certificates(self, facility_id: uuid.UUID) -> list[CertificateFacts]:
        return _certificates(self.store, facility_id)

    async def facilities_fitting(self, filters: SlotFilters, limit: int) -> list[uuid.UUID]:
        fitting = set()
        for suite in _views(self.store, models.SuiteView):
            facility = self.store.views.get((models.FacilityView, suite.facility_id))
            if suite.retired or not isinstance(facility, models.FacilityView) or not facility.active:
                continue
            if _certified(self.store, suite.facility_id) and _site_matches(filters, suite, facility):
                fitting.add(suite.facility_id)
        return sorted(fitting)[:limit]

    async def risk_facts(
        self, facility_id: uuid.UUID, material_ids: Sequence[uuid.UUID], approval_id: uuid.UUID | None
    ) -> RiskFacts:
        facility = self.store.views.get((models.FacilityView, facility_id))
        return RiskFacts(
            certificates=_certificates(self.store, facility_id),
            country=facility.country if isinstance(facility, models.FacilityView) else None,
            shortages=await self.active_shortages(material_ids),
            approval=await self.approval(approval_id),
        )

    async def approval(self, approval_id: uuid.UUID | None) -> ApprovalFacts | None:
        view = self.store.views.get((models.ApprovalView, approval_id))
        if not isinstance(view, models.ApprovalView):
            return None
        return ApprovalFacts(view.approval_id, view.status, view.holder_org_id, list(view.facility_ids))

    async def add_supplier_change(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            key = (models.SupplierChangeView, (row["supplier_change_id"], row["booking_id"]))
            self.store.views.setdefault(key, models.SupplierChangeView(**row))

    async def answer_supplier_change(
        self, supplier_change_id: uuid.UUID, facility_id: uuid.UUID, outcome: str
    ) -> list[uuid.UUID]:
        answered = []
        for view in _views(self.store, models.SupplierChangeView):
            if view.supplier_change_id == supplier_change_id and view.facility_id == facility_id:
                view.outcome = outcome
                answered.append(view.booking_id)
        return answered

    async def supplier_changes(self, booking_id: uuid.UUID) -> list[SupplierChangeFacts]:
        return [
            SupplierChangeFacts(v.change_type, v.description, v.effective_on, v.risk_class, v.outcome)
            for v in _views(self.store, models.SupplierChangeView)
            if v.booking_id == booking_id
        ]

    async def active_shortages(self, material_ids: Sequence[uuid.UUID]) -> list[ShortageFacts]:
        return [
            ShortageFacts(s.material_id, s.severity, s.reason, s.material_name, tuple(s.regions))
            for s in _views(self.store, models.ShortageView)
            if s.material_id in material_ids and s.status == "active"
        ]


class FakeIdempotencyKeys:
    """A key is found only with its answer: a request that failed left nothing behind (in the
    database its transaction rolled back)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def claim(self, scope: str, key: str, request_hash: str) -> models.IdempotencyRecord | None:
        answer = self.store.answers.get((scope, key))
        if answer is None:
            self.store.claims[(scope, key)] = request_hash
        return answer

    async def remember(self, scope: str, key: str, response: dict[str, Any], booking_id: uuid.UUID) -> None:
        request_hash = self.store.claims.pop((scope, key))
        self.store.answers[(scope, key)] = models.IdempotencyRecord(
            scope=scope, key=key, request_hash=request_hash, response=response, booking_id=booking_id
        )


# --- what a test starts from --------------------------------------------------------------------


class FakeAgreements(_FakeAggregates[models.TechnicalAgreement]):
    rows = "agreements"

    async def between(self, org_id: str, facility_id: uuid.UUID) -> list[AgreementFacts]:
        rows = sorted(
            (a for a in self.store.agreements.values()
             if a.org_id == org_id and a.facility_id == facility_id and a.status not in AGREEMENT_ENDED),
            key=lambda a: (a.created_at, a.id),
        )  # fmt: skip
        return [AgreementFacts(a.id, a.status, list(a.run_kinds), a.valid_from, a.valid_until) for a in rows]

    async def run_out(self, today: date, limit: int) -> list[models.TechnicalAgreement]:
        rows = [a for a in self.store.agreements.values() if a.status not in AGREEMENT_ENDED and a.valid_until < today]
        return sorted(rows, key=lambda a: (a.valid_until, a.id))[:limit]


class FakeRequests(_FakeAggregates[models.ManufacturingRequest]):
    rows = "requests"


class FakeQuotes(_FakeAggregates[models.Quote]):
    rows = "quotes"

    async def offered_for(self, request_id: uuid.UUID, facility_id: uuid.UUID | None = None) -> list[models.Quote]:
        rows = [
            q for q in self.store.quotes.values()
            if q.request_id == request_id and q.status == QuoteStatus.OFFERED
            and (facility_id is None or q.facility_id == facility_id)
        ]  # fmt: skip
        return sorted(rows, key=lambda q: q.id)

    async def run_out(self, now: datetime, limit: int) -> list[models.Quote]:
        rows = [q for q in self.store.quotes.values() if q.status == QuoteStatus.OFFERED and q.valid_until <= now]
        return sorted(rows, key=lambda q: (q.valid_until, q.id))[:limit]


class FakeCampaigns(_FakeAggregates[models.Campaign]):
    rows = "campaigns"

    async def add(self, campaign: models.Campaign, batches: Sequence[models.Booking]) -> None:
        self.store.campaigns[campaign.id] = campaign
        for batch in batches:
            self.store.bookings[batch.id] = batch

    async def batches(self, campaign_id: uuid.UUID) -> list[models.Booking]:
        return sorted((b for b in self.store.bookings.values() if b.campaign_id == campaign_id), key=lambda b: b.id)

    async def overdue_holds(self, now: datetime, limit: int) -> list[models.Campaign]:
        due = [c for c in self._unsettled() if c.hold_expires_at is not None and c.hold_expires_at <= now]
        return sorted(due, key=lambda c: c.hold_expires_at)[:limit]  # type: ignore[arg-type,return-value]

    async def holds_expiring(self, before: datetime, now: datetime, limit: int) -> list[models.Campaign]:
        due = [
            c for c in self._unsettled()
            if c.hold_expires_at is not None and now < c.hold_expires_at <= before
            and c.hold_reminded_for != c.hold_expires_at
        ]  # fmt: skip
        return sorted(due, key=lambda c: c.hold_expires_at)[:limit]  # type: ignore[arg-type,return-value]

    async def unanswered(self, asked_before: datetime, limit: int) -> list[models.Campaign]:
        due = [
            c for c in self._unsettled()
            if c.materials_requested_at is not None and c.materials_asked_at is not None
            and c.materials_asked_at <= asked_before
        ]  # fmt: skip
        return sorted(due, key=lambda c: c.materials_asked_at)[:limit]  # type: ignore[arg-type,return-value]

    def _unsettled(self) -> list[models.Campaign]:
        return [c for c in self.store.campaigns.values() if c.status in CAMPAIGN_UNSETTLED]


@dataclass
class Site:
    """A certified facility with one suite and open slots, as scheduling's replicas know them."""

    facility_id: uuid.UUID
    suite_id: uuid.UUID
    certificate: models.CertificateView
    slots: list[models.Slot]

    @property
    def slot_ids(self) -> list[uuid.UUID]:
        return [s.id for s in self.slots]


def facility_user(site: Site) -> Principal:
    """A QA user of the site's facility."""
    return Principal("qa-1", Role.FACILITY, facility_ids=frozenset({str(site.facility_id)}))


def certified_site(
    store: Store,
    *,
    slots: int = 3,
    country: str = "DE",
    grade: str = "B",
    atmp_types: Sequence[str] = ("gene_therapy",),
    processes: Sequence[str] = ("viral_vector_production",),
    days: int = 7,
) -> Site:
    """`slots` consecutive open slots of 8 hours each, `days` from now."""
    facility = models.FacilityView(
        facility_id=uuid.uuid4(), version=1, legal_name=f"GMP unit {country}", country=country, active=True
    )
    suite = models.SuiteView(
        suite_id=uuid.uuid4(), facility_id=facility.facility_id, version=2, name=f"Suite {grade}",
        cleanroom_grade=grade, atmp_types=list(atmp_types), processes=list(processes),
    )  # fmt: skip
    certificate = models.CertificateView(
        certificate_id=uuid.uuid4(), facility_id=facility.facility_id, version=3, number="DE-GMP-0001",
        authority="DE-PEI", status="valid", expires_on=date.today() + timedelta(days=700),
    )  # fmt: skip
    first = models.now().replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=days)
    open_slots = [
        models.Slot(
            suite_id=suite.suite_id,
            facility_id=facility.facility_id,
            starts_at=first + timedelta(hours=8 * i),
            ends_at=first + timedelta(hours=8 * (i + 1)),
            status=SlotStatus.OPEN.value,
            created_by="facility:f-1",
            updated_by="facility:f-1",
        )
        for i in range(slots)
    ]
    store.put(facility, suite, certificate, *open_slots)
    return Site(facility.facility_id, suite.suite_id, certificate, open_slots)


def approval(store: Store, org_id: str, *facility_ids: uuid.UUID, status: str = "approved") -> uuid.UUID:
    """An approval scheduling knows of, held by `org_id` for these facilities."""
    view = models.ApprovalView(
        approval_id=uuid.uuid4(), version=1, title="Phase I CAR-T CD19", status=status, holder_org_id=org_id,
        facility_ids=list(facility_ids),
    )  # fmt: skip
    store.put(view)
    return view.approval_id

"""Scheduling rules, free of frameworks and I/O: how capacity becomes slots, how a booking moves
between its states, and why a booking is at risk."""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import TypeVar
from uuid import UUID

from shared.problems import Conflict, Forbidden, NotFound, Unprocessable

MAX_SLOTS_PER_PUBLICATION = 5000


class SlotStatus(StrEnum):
    OPEN = "open"
    HELD = "held"
    BOOKED = "booked"
    BLOCKED = "blocked"
    WITHDRAWN = "withdrawn"  # kept for history; no longer counts against overlaps
    QUOTED = "quoted"  # held for a facility's quote until it is accepted, declined, superseded or expired


class BookingStatus(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    MATERIALS_SHORT = "materials_short"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class RunKind(StrEnum):
    DEVELOPMENT = "development"
    ENGINEERING = "engineering"
    CLINICAL = "clinical"


# Bookings that still claim their slots (and so can be at risk, cancelled, or expire).
OPEN_BOOKING_STATUSES = (BookingStatus.HELD, BookingStatus.CONFIRMED, BookingStatus.MATERIALS_SHORT)


@dataclass(frozen=True)
class Period:
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class SlotFacts:
    """A slot a hold asks for, locked, with what the booking rules ask of its suite and facility:
    whether the suite is retired (None: unknown to scheduling), the facility's country (None:
    unknown) and its certificates."""

    id: UUID
    suite_id: UUID
    facility_id: UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    suite_retired: bool | None
    country: str | None
    certificates: tuple["CertificateFacts", ...]


@dataclass(frozen=True)
class SlotFilters:
    """What a developer asks of a slot: the search's filters, and a waitlist entry's criteria."""

    starts_from: datetime | None = None
    ends_before: datetime | None = None
    country: str | None = None
    atmp_type: str | None = None
    process: str | None = None
    cleanroom_grade: str | None = None
    facility_id: UUID | None = None
    suite_id: UUID | None = None


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise Unprocessable(f"{name} {moment.isoformat()} needs a time zone offset (e.g. Z or +01:00).")
    return moment.astimezone(UTC)


def plan_slots(periods: Iterable[Period], *, now: datetime) -> list[Period]:
    """Check a set of requested slots: each well formed, in the future, none overlapping another."""
    planned = sorted(
        (Period(_aware(p.starts_at, "starts_at"), _aware(p.ends_at, "ends_at")) for p in periods),
        key=lambda p: p.starts_at,
    )
    if not planned:
        raise Unprocessable("The publication yields no slot; check the window, slot length or recurrence.")
    if len(planned) > MAX_SLOTS_PER_PUBLICATION:
        raise Unprocessable(f"At most {MAX_SLOTS_PER_PUBLICATION} slots per publication; {len(planned)} asked.")
    for slot in planned:
        if slot.ends_at <= slot.starts_at:
            raise Unprocessable(f"A slot must end after it starts ({slot.starts_at.isoformat()}).")
        if slot.starts_at < now:
            raise Unprocessable(f"A slot cannot start in the past ({slot.starts_at.isoformat()}).")
    for earlier, later in pairwise(planned):
        if later.starts_at < earlier.ends_at:
            raise Unprocessable(f"The requested slots overlap at {later.starts_at.isoformat()}.")
    return planned


def window_slots(starts_at: datetime, ends_at: datetime, slot_minutes: int, gap_minutes: int = 0) -> list[Period]:
    """Cut a window into consecutive slots of one length; a remainder shorter than a slot is left out."""
    if slot_minutes <= 0 or gap_minutes < 0:
        raise Unprocessable("slot_minutes must be positive and gap_minutes not negative.")
    length, step = timedelta(minutes=slot_minutes), timedelta(minutes=slot_minutes + gap_minutes)
    periods: list[Period] = []
    cursor = starts_at
    while cursor + length <= ends_at and len(periods) <= MAX_SLOTS_PER_PUBLICATION:
        periods.append(Period(cursor, cursor + length))
        cursor += step
    return periods


def weekly_slots(starts_at: datetime, ends_at: datetime, until: date, weekdays: Sequence[int] | None) -> list[Period]:
    """Repeat one slot on the given weekdays (0 = Monday; default: the first slot's weekday) up to
    and including `until`. Times repeat in the first slot's UTC offset (no daylight-saving shift)."""
    days = set(weekdays) if weekdays else {starts_at.weekday()}
    if not days <= set(range(7)):
        raise Unprocessable("weekdays are 0 (Monday) to 6 (Sunday).")
    if until < starts_at.date():
        raise Unprocessable("until lies before the first slot.")
    periods: list[Period] = []
    offset = 0
    while (starts_at + timedelta(days=offset)).date() <= until and len(periods) <= MAX_SLOTS_PER_PUBLICATION:
        moment = starts_at + timedelta(days=offset)
        if moment.weekday() in days:
            periods.append(Period(moment, ends_at + timedelta(days=offset)))
        offset += 1
    return periods


# --- bookings ----------------------------------------------------------------------------------


def require_status(booking_id: UUID, status: str, allowed: Iterable[BookingStatus], action: str) -> None:
    allowed = tuple(allowed)
    if status not in allowed:
        names = " or ".join(s.value for s in allowed)
        raise Conflict(f"Booking {booking_id} is {status}; only a {names} booking can be {action}.")


def awaiting_materials(status: str, materials_requested_at: datetime | None) -> bool:
    """Confirmed by the developer, and materials has not answered yet (a booking's or a campaign's
    status: both say held and materials_short alike)."""
    return status in (BookingStatus.HELD, BookingStatus.MATERIALS_SHORT) and materials_requested_at is not None


def materials_ask_due(asked_at: datetime | None, now: datetime, retry_seconds: float) -> bool:
    """The saga's deadline: materials has not answered the last request within `retry_seconds`."""
    return asked_at is not None and (now - asked_at).total_seconds() >= retry_seconds


def materials_overdue(attempts: int, max_attempts: int, overdue_since: datetime | None) -> bool:
    """Escalate once: every allowed request went unanswered, and nobody was told yet."""
    return attempts >= max_attempts and overdue_since is None


Change = TypeVar("Change")


@dataclass(kw_only=True)  # keyword-only: its defaulted fields come before each aggregate's required ones
class _MaterialsSaga:
    """The materials saga a booking and a campaign each run: the developer confirms, materials is
    asked to reserve (the hold no longer runs out meanwhile), asked again past the deadline, and
    escalated once when every allowed request went unanswered, until it answers. Each aggregate
    keeps its own status checks and announces each step as its own change."""

    hold_expires_at: datetime | None = None
    materials_requested_at: datetime | None = None
    materials_asked_at: datetime | None = None
    materials_attempts: int = 0
    materials_overdue_since: datetime | None = None

    def _require_hold_running(self, now: datetime, name: str) -> None:
        if self.hold_expires_at is not None and hold_expired(self.hold_expires_at, now):
            raise Conflict(f"The hold on {name} expired at {self.hold_expires_at.isoformat()}.")

    def _start_saga(self, now: datetime) -> None:
        """Materials is asked a first time, and the hold stops: the developer has committed."""
        self.materials_requested_at, self.hold_expires_at = now, None
        self.materials_asked_at, self.materials_attempts, self.materials_overdue_since = now, 1, None

    def _ask_again(
        self, now: datetime, retry_seconds: float, max_attempts: int, escalated: Change, asked: Change
    ) -> Iterator[Change]:
        """Unanswered for `retry_seconds`: ask again; after `max_attempts` unanswered requests,
        escalate first (once). Yields each change made, right after making it, so the caller
        records the state as it was then (an escalation counts the requests before this one)."""
        if not materials_ask_due(self.materials_asked_at, now, retry_seconds):
            return
        if materials_overdue(self.materials_attempts, max_attempts, self.materials_overdue_since):
            self.materials_overdue_since = now
            yield escalated
        self.materials_attempts += 1
        self.materials_asked_at = now
        yield asked

    def _answered(self) -> None:
        """The saga step is over: no deadline runs, and no escalation stands."""
        self.materials_asked_at, self.materials_overdue_since = None, None


class BookingChange(StrEnum):
    """What a booking's rule did; the use case turns each into its event."""

    CONFIRMED = "confirmed"  # the developer confirmed: materials is asked to reserve
    MATERIALS_REQUESTED_AGAIN = "materials_requested_again"  # past the saga's deadline
    ESCALATED = "escalated"  # every allowed request went unanswered
    MATERIALS_RESERVED = "materials_reserved"
    MATERIALS_SHORT = "materials_short"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    EXPIRED = "expired"


@dataclass
class Booking(_MaterialsSaga):
    """A booking and its rules: held → confirmed (materials asked, the saga) → confirmed or
    materials_short; confirmed → completed; any open booking → cancelled; a hold runs out. Each
    method changes the booking in memory and returns what changed, each change with the booking as
    it was right after it (nothing: no change), for the caller to save and announce in order."""

    id: UUID
    status: BookingStatus
    org_id: str
    starts_at: datetime
    needs_materials: bool
    shortfalls: list[dict[str, str]] = field(default_factory=list)
    at_risk_reasons: list[str] = field(default_factory=list)
    cancel_reason: str | None = None

    @property
    def awaiting_materials(self) -> bool:
        return awaiting_materials(self.status, self.materials_requested_at)

    def confirm(self, now: datetime) -> "BookingChanges":
        """Start the saga. While materials answers, the hold no longer runs out: the developer has
        committed. A booking with nothing to reserve is confirmed at once."""
        require_status(self.id, self.status, (BookingStatus.HELD, BookingStatus.MATERIALS_SHORT), "confirmed")
        if self.awaiting_materials:
            return []  # confirmed already, awaiting materials: a repeat changes nothing
        self._require_hold_running(now, f"booking {self.id}")
        self._start_saga(now)
        self.shortfalls = []
        changes = [self._changed(BookingChange.CONFIRMED)]
        if not self.needs_materials:
            changes += self.materials_reserved()
        return changes

    def ask_materials_again(self, now: datetime, retry_seconds: float, max_attempts: int) -> "BookingChanges":
        """The saga's deadline: unanswered for `retry_seconds`, ask again; after `max_attempts`
        unanswered requests, escalate first (once), and keep asking."""
        if not self.awaiting_materials:
            return []
        asked = self._ask_again(
            now, retry_seconds, max_attempts, BookingChange.ESCALATED, BookingChange.MATERIALS_REQUESTED_AGAIN
        )
        return [self._changed(change) for change in asked]

    def materials_reserved(self) -> "BookingChanges":
        if not self.awaiting_materials:
            return []  # cancelled meanwhile (materials releases on the cancellation), or settled
        self.status, self.hold_expires_at = BookingStatus.CONFIRMED, None
        self._answered()
        return [self._changed(BookingChange.MATERIALS_RESERVED)]

    def materials_short(
        self, shortfalls: list[dict[str, str]], now: datetime, hold_ttl_seconds: int
    ) -> "BookingChanges":
        """Materials could not reserve everything: the developer gets a fresh hold to restock and
        confirm again, or to cancel; else the slots are freed when it runs out."""
        if not self.awaiting_materials:
            return []
        self.status, self.shortfalls, self.materials_requested_at = BookingStatus.MATERIALS_SHORT, shortfalls, None
        self.hold_expires_at = now + timedelta(seconds=hold_ttl_seconds)
        self._answered()
        return [self._changed(BookingChange.MATERIALS_SHORT)]

    def cancel(self, reason: str | None, *, by_developer: bool) -> "BookingChanges":
        if not by_developer and not (reason and reason.strip()):
            raise Unprocessable("A cancellation by the facility (or the hub operator) needs a reason.")
        require_status(self.id, self.status, OPEN_BOOKING_STATUSES, "cancelled")
        self._close(BookingStatus.CANCELLED)
        self.cancel_reason = reason
        return [self._changed(BookingChange.CANCELLED)]

    def complete(self, now: datetime) -> "BookingChanges":
        require_status(self.id, self.status, (BookingStatus.CONFIRMED,), "completed")
        check_run_started(self.starts_at, now)
        self._close(BookingStatus.COMPLETED)
        return [self._changed(BookingChange.COMPLETED)]

    def expire(self, now: datetime) -> "BookingChanges":
        if self.status not in (BookingStatus.HELD, BookingStatus.MATERIALS_SHORT):
            return []
        if not hold_expired(self.hold_expires_at, now):
            return []
        self._close(BookingStatus.EXPIRED)
        return [self._changed(BookingChange.EXPIRED)]

    def _close(self, status: BookingStatus) -> None:
        """End the booking: no hold runs on, and at-risk flags (about a run still to come) no longer apply."""
        self.status, self.hold_expires_at, self.at_risk_reasons = status, None, []
        self._answered()

    def _changed(self, change: BookingChange) -> tuple["Booking", BookingChange]:
        return replace(self, shortfalls=list(self.shortfalls), at_risk_reasons=list(self.at_risk_reasons)), change


BookingChanges = list[tuple[Booking, BookingChange]]


def check_run_started(starts_at: datetime, now: datetime) -> None:
    """A run is completed by its facility once it has begun, never ahead of time."""
    if now < starts_at:
        raise Conflict(f"The run starts at {starts_at.isoformat()}; it can be completed once it has started.")


def hold_expired(hold_expires_at: datetime | None, now: datetime) -> bool:
    """A hold with no expiry is awaiting materials' answer; it does not run out meanwhile."""
    return hold_expires_at is not None and hold_expires_at <= now


@dataclass(frozen=True)
class ApprovalFacts:
    approval_id: UUID
    status: str
    holder_org_id: str
    facility_ids: Sequence[UUID]


def check_clinical_approval(
    run_kind: RunKind, approval: ApprovalFacts | None, approval_id: UUID | None, org_id: str, facility_id: UUID
) -> None:
    """A clinical run relies on an approval that is approved, held by the booking org and covers the facility."""
    if run_kind is not RunKind.CLINICAL:
        return
    if approval_id is None:
        raise Unprocessable("A clinical run needs approval_id: the approval it relies on.")
    if approval is None:
        raise Unprocessable(f"Approval {approval_id} is not known to scheduling (not filed, or not yet seen).")
    if approval.holder_org_id != org_id:
        raise Unprocessable(f"Approval {approval_id} is held by another organisation, not {org_id}.")
    if facility_id not in approval.facility_ids:
        raise Unprocessable(f"Approval {approval_id} does not cover facility {facility_id}.")
    if approval.status != "approved":
        raise Conflict(f"Approval {approval_id} is {approval.status}; a clinical run needs it approved.")


# --- at risk -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateFacts:
    number: str
    status: str
    expires_on: date
    reason: str | None = None

    def valid_on(self, day: date) -> bool:
        return self.status == "valid" and self.expires_on >= day


EU = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())
REGIONS = {"EU": EU, "EEA": EU | {"IS", "LI", "NO"}}
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@dataclass(frozen=True)
class ShortageFacts:
    material_id: UUID
    severity: str
    reason: str | None = None
    material_name: str | None = None
    regions: tuple[str, ...] = ()

    def affects(self, country: str | None) -> bool:
        """A shortage with no regions, or a facility of unknown country, is taken to be affected."""
        if not self.regions or country is None:
            return True
        return any(country == region or country in REGIONS.get(region, ()) for region in self.regions)


@dataclass(frozen=True)
class SupplierChangeFacts:
    """A supplier change touching lots reserved for a booking, and its facility's answer (None: none yet)."""

    change_type: str
    description: str
    effective_on: date
    risk_class: str
    outcome: str | None = None


def supplier_change_risks(changes: Sequence[SupplierChangeFacts]) -> list[str]:
    """One reason per supplier change the facility has not accepted: unanswered, or its lots quarantined."""
    reasons = []
    for c in sorted(changes, key=lambda c: (c.effective_on, c.description)):
        what = f"A supplier change ({c.change_type}, {c.risk_class}, effective {c.effective_on}) touches lots reserved for it"
        if c.outcome is None:
            reasons.append(f"{what}: {c.description}; the facility has not assessed it yet.")
        elif c.outcome != "accepted":
            reasons.append(f"{what}: {c.description}; the facility quarantined them.")
    return reasons


@dataclass(frozen=True)
class RiskFacts:
    """What scheduling's replicas say of a booking's run: its facility's certificates and country
    (None: unknown), the active shortages of the materials it needs, the approval it relies on."""

    certificates: Sequence[CertificateFacts]
    country: str | None
    shortages: Sequence[ShortageFacts] = ()
    approval: ApprovalFacts | None = None


def certified(certificates: Iterable[CertificateFacts], today: date) -> bool:
    """A facility is bookable while any of its certificates is valid."""
    return any(c.valid_on(today) for c in certificates)


def certificate_risks(certificates: Sequence[CertificateFacts], today: date) -> list[str]:
    """Nothing while any certificate is valid; else why none is."""
    if certified(certificates, today):
        return []
    if not certificates:
        return ["The facility holds no valid GMP certificate."]
    reasons = []
    for c in sorted(certificates, key=lambda c: c.number):
        status = "expired" if c.status == "valid" else c.status
        reasons.append(f"GMP certificate {c.number} is {status}" + (f": {c.reason}" if c.reason else "."))
    return reasons


def shortage_risks(needed: Iterable[UUID], shortages: Sequence[ShortageFacts], country: str | None) -> list[str]:
    """One reason per needed material short where the facility is, naming its most severe shortage."""
    needed = set(needed)
    worst: dict[UUID, ShortageFacts] = {}
    for s in shortages:
        if s.material_id in needed and s.affects(country):
            current = worst.get(s.material_id)
            if current is None or SEVERITY_RANK.get(s.severity, -1) > SEVERITY_RANK.get(current.severity, -1):
                worst[s.material_id] = s
    return [
        f"{s.material_name or f'Material {s.material_id}'} is short ({s.severity})"
        + (f": {s.reason}" if s.reason else ".")
        for s in sorted(worst.values(), key=lambda s: (s.material_name or "", str(s.material_id)))
    ]


def at_risk_reasons(facts: RiskFacts, needed: Iterable[UUID], today: date) -> list[str]:
    """Why a booking may not run as planned: its facility's certificate, its materials, its approval."""
    reasons = certificate_risks(facts.certificates, today)
    reasons += shortage_risks(needed, facts.shortages, facts.country)
    if facts.approval is not None and facts.approval.status != "approved":
        reasons.append(f"Approval {facts.approval.approval_id} is {facts.approval.status}.")
    return reasons


# --- technical agreements (EU GMP Chapter 7) ----------------------------------------------------


class AgreementStatus(StrEnum):
    DRAFT = "draft"
    SIGNED_BY_ONE = "signed_by_one"
    ACTIVE = "active"
    TERMINATED = "terminated"
    EXPIRED = "expired"


AGREEMENT_ENDED = (AgreementStatus.TERMINATED, AgreementStatus.EXPIRED)


class Side(StrEnum):
    """Who signs for what: the developer organisation gives the contract, the facility accepts it."""

    CONTRACT_GIVER = "contract_giver"
    CONTRACT_ACCEPTOR = "contract_acceptor"


def check_agreement_terms(valid_from: date, valid_until: date, run_kinds: Sequence[str], today: date) -> None:
    """Terms both sides can sign: a period that ends after it begins and is not over, some run kind."""
    if valid_until <= valid_from:
        raise Unprocessable(f"valid_until ({valid_until}) must lie after valid_from ({valid_from}).")
    if valid_until < today:
        raise Unprocessable(f"valid_until ({valid_until}) lies in the past; the agreement would be expired at once.")
    if not run_kinds:
        raise Unprocessable("An agreement covers at least one run kind (development, engineering, clinical).")


class AgreementChange(StrEnum):
    """What an agreement's rule did; the use case turns each into its event."""

    SIGNED = "signed"
    TERMINATED = "terminated"
    EXPIRED = "expired"


@dataclass
class Agreement:
    """A technical agreement and its rules: draft → signed_by_one → active (both sides signed,
    each once) → terminated (by either side, with a reason) or expired (past `valid_until`)."""

    id: UUID
    status: AgreementStatus
    valid_until: date
    signed: set[Side] = field(default_factory=set)

    def sign(self, side: Side, today: date) -> AgreementChange:
        if side in self.signed:
            raise Conflict(f"Agreement {self.id} is signed by its {side.value.replace('_', ' ')} already.")
        self._require_open("signed")
        if self.valid_until < today:
            raise Conflict(f"Agreement {self.id} ran out on {self.valid_until}; it can no longer be signed.")
        self.signed.add(side)
        self.status = AgreementStatus.ACTIVE if self.signed == set(Side) else AgreementStatus.SIGNED_BY_ONE
        return AgreementChange.SIGNED

    def terminate(self, reason: str) -> AgreementChange:
        if not reason.strip():
            raise Unprocessable("Terminating an agreement needs a reason.")
        self._require_open("terminated")
        self.status = AgreementStatus.TERMINATED
        return AgreementChange.TERMINATED

    def expire(self, today: date) -> list[AgreementChange]:
        """Past its last valid day an agreement not yet ended expires (nothing otherwise)."""
        if self.status in AGREEMENT_ENDED or self.valid_until >= today:
            return []
        self.status = AgreementStatus.EXPIRED
        return [AgreementChange.EXPIRED]

    def _require_open(self, action: str) -> None:
        if self.status in AGREEMENT_ENDED:
            raise Conflict(f"Agreement {self.id} is {self.status.value}; an ended agreement cannot be {action}.")


@dataclass(frozen=True)
class AgreementFacts:
    """An agreement between a booking's organisation and facility, as the clinical rule reads it."""

    agreement_id: UUID
    status: str
    run_kinds: Sequence[str]
    valid_from: date
    valid_until: date

    def covers(self, run_kind: RunKind, starts_at: datetime, ends_at: datetime, today: date) -> bool:
        return (
            self.status == AgreementStatus.ACTIVE
            and run_kind.value in self.run_kinds
            and self.valid_from <= starts_at.date()
            and ends_at.date() <= self.valid_until
            and today <= self.valid_until
        )


TECHNICAL_AGREEMENT_RULE = "technical_agreement_required"


def check_technical_agreement(
    run_kind: RunKind,
    agreements: Sequence[AgreementFacts],
    org_id: str,
    facility_id: UUID,
    run: Period,
    today: date,
) -> None:
    """EU GMP Chapter 7: outsourced manufacture for a clinical run needs an active written contract
    between contract giver (the organisation) and contract acceptor (the facility) covering clinical
    runs over the run's days. Development and engineering runs go ahead without."""
    if run_kind is not RunKind.CLINICAL:
        return
    if any(a.covers(run_kind, run.starts_at, run.ends_at, today) for a in agreements):
        return
    there = (
        "; ".join(
            f"agreement {a.agreement_id} is {a.status}, covers {', '.join(a.run_kinds)} "
            f"from {a.valid_from} to {a.valid_until}"
            for a in agreements
        )
        or "there is none"
    )
    raise Conflict(
        f"A clinical run needs an active technical agreement (EU GMP Chapter 7) between {org_id} and facility "
        f"{facility_id} covering clinical runs from {run.starts_at.date()} to {run.ends_at.date()}; {there}. "
        "Draft one (POST /v1/agreements), have both sides sign it, then confirm again.",
        rule=TECHNICAL_AGREEMENT_RULE,
        org_id=org_id,
        facility_id=str(facility_id),
    )


# --- manufacturing requests and quotes ------------------------------------------------------------


class RequestStatus(StrEnum):
    OPEN = "open"  # sent, no quote yet
    QUOTED = "quoted"  # at least one facility answered with a quote
    ACCEPTED = "accepted"  # the developer accepted one quote
    WITHDRAWN = "withdrawn"


REQUEST_ENDED = (RequestStatus.ACCEPTED, RequestStatus.WITHDRAWN)
MAX_ADDRESSED_FACILITIES = 20  # a request is a shortlist's, not a broadcast to the whole directory


class QuoteStatus(StrEnum):
    OFFERED = "offered"  # its slots are held for it until valid_until
    ACCEPTED = "accepted"
    DECLINED = "declined"  # by its facility
    EXPIRED = "expired"
    SUPERSEDED = "superseded"  # another quote was accepted, or the request withdrawn


MAX_QUOTE_VALIDITY = timedelta(days=90)

# ISO 4217 active codes (the standard's list one, without funds and precious metals): money is
# named in one of these, as a decimal, never a float.
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
    BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP
    GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD
    KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK
    NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD
    SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF
    XCD XCG XOF XPF YER ZAR ZMW ZWG""".split()
)


CENT = Decimal("0.01")


def money(amount: Decimal, what: str) -> Decimal:
    """An amount of money: finite, not negative, at most two decimals; in cents (`48000.00`)."""
    if not amount.is_finite() or amount < 0:
        raise Unprocessable(f"{what} must be an amount of at least 0, not {amount}.")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise Unprocessable(f"{what} has at most 2 decimals, not {amount}.")
    return amount.quantize(CENT)


def check_currency(code: str) -> None:
    if code not in CURRENCIES:
        raise Unprocessable(f"currency {code!r} is not an ISO 4217 currency code (e.g. EUR, CHF, GBP).")


def check_request_window(earliest_start: date, latest_end: date, today: date) -> None:
    """The time frame of a request: it ends after it starts and is not over. Whether its batches fit
    is the facilities' to say, in their quotes."""
    if latest_end <= earliest_start:
        raise Unprocessable(f"latest_end ({latest_end}) must lie after earliest_start ({earliest_start}).")
    if latest_end < today:
        raise Unprocessable(f"latest_end ({latest_end}) lies in the past.")


def check_quoted_slots(batches: int, slots: Sequence[Period], earliest_start: date, latest_end: date) -> None:
    """One slot per batch, each within the request's time frame."""
    if len(slots) != batches:
        raise Unprocessable(f"The request asks for {batches} batch(es): propose one slot per batch, not {len(slots)}.")
    for slot in slots:
        if slot.starts_at.date() < earliest_start or slot.ends_at.date() > latest_end:
            raise Unprocessable(
                f"The slot {slot.starts_at.isoformat()}–{slot.ends_at.isoformat()} lies outside the request's "
                f"time frame {earliest_start} to {latest_end}."
            )


def check_validity(valid_until: datetime, now: datetime) -> None:
    """A quote holds its slots until `valid_until`: in the future, at most MAX_QUOTE_VALIDITY away."""
    valid_until = _aware(valid_until, "valid_until")
    if valid_until <= now:
        raise Unprocessable(f"valid_until ({valid_until.isoformat()}) must lie in the future.")
    if valid_until > now + MAX_QUOTE_VALIDITY:
        raise Unprocessable(
            f"valid_until lies at most {MAX_QUOTE_VALIDITY.days} days ahead: a quote holds its slots meanwhile."
        )


@dataclass
class ManufacturingRequest:
    """A developer's request to facilities: open → quoted (a first quote) → accepted (one quote) or
    withdrawn. An addressed facility may decline it, once; the others may still quote."""

    id: UUID
    status: RequestStatus
    facility_ids: Sequence[UUID]
    declined_by: set[UUID] = field(default_factory=set)

    def require_quotable_by(self, facility_id: UUID) -> None:
        """A facility quotes a request addressed to it, still open, that it has not declined."""
        if facility_id not in self.facility_ids:
            raise Forbidden(f"Request {self.id} is not addressed to facility {facility_id}.")
        if facility_id in self.declined_by:
            raise Conflict(f"Facility {facility_id} declined request {self.id}.")
        self._require_open("quoted")

    def quoted(self) -> bool:
        """A quote arrived; say whether that changed the request's status."""
        if self.status is RequestStatus.OPEN:
            self.status = RequestStatus.QUOTED
            return True
        return False

    def decline(self, facility_id: UUID, reason: str) -> None:
        if not reason.strip():
            raise Unprocessable("Declining a request needs a reason.")
        self.require_quotable_by(facility_id)
        self.declined_by.add(facility_id)

    def withdraw(self, reason: str) -> None:
        if not reason.strip():
            raise Unprocessable("Withdrawing a request needs a reason.")
        self._require_open("withdrawn")
        self.status = RequestStatus.WITHDRAWN

    def accept(self) -> None:
        self._require_open("accepted")
        self.status = RequestStatus.ACCEPTED

    def _require_open(self, action: str) -> None:
        if self.status in REQUEST_ENDED:
            raise Conflict(f"Request {self.id} is {self.status.value}; it can no longer be {action}.")


@dataclass
class Quote:
    """A facility's quote on a request: offered (its slots held for it) → accepted by the developer,
    declined by the facility, superseded (another accepted, or the request withdrawn) or expired
    (past valid_until). An offered quote may be revised by its facility, each revision numbered."""

    id: UUID
    status: QuoteStatus
    valid_until: datetime
    revision: int = 1

    def revise(self, now: datetime) -> None:
        self._require_offered("revised", now)
        self.revision += 1

    def decline(self, reason: str, now: datetime) -> None:
        if not reason.strip():
            raise Unprocessable("Declining a quote needs a reason.")
        self._require_offered("declined", now)
        self.status = QuoteStatus.DECLINED

    def accept(self, now: datetime) -> None:
        self._require_offered("accepted", now)
        self.status = QuoteStatus.ACCEPTED

    def expire(self, now: datetime) -> bool:
        """Past valid_until an offered quote expires; say whether it did."""
        if self.status is not QuoteStatus.OFFERED or self.valid_until > now:
            return False
        self.status = QuoteStatus.EXPIRED
        return True

    def _require_offered(self, action: str, now: datetime) -> None:
        if self.status is not QuoteStatus.OFFERED:
            raise Conflict(f"Quote {self.id} is {self.status.value}; only an offered quote can be {action}.")
        if self.valid_until <= now:  # the job may not have run yet: the time decides
            raise Conflict(f"Quote {self.id} expired at {self.valid_until.isoformat()}; it can no longer be {action}.")


# --- campaigns: an accepted quote's batches, confirmed and reserved as a whole ----------------------


class CampaignStatus(StrEnum):
    HELD = "held"  # its batches hold the quote's slots until confirmed, cancelled or the hold runs out
    CONFIRMED = "confirmed"  # materials reserved every batch's needs
    MATERIALS_SHORT = "materials_short"  # some batch's needs could not be met: nothing reserved
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # by the developer or the facility, or every batch cancelled
    COMPLETED = "completed"  # every batch ended, at least one run took place


CAMPAIGN_UNSETTLED = (CampaignStatus.HELD, CampaignStatus.MATERIALS_SHORT)
CAMPAIGN_OPEN = (*CAMPAIGN_UNSETTLED, CampaignStatus.CONFIRMED)


class CampaignChange(StrEnum):
    """What a campaign's rule did to the campaign itself; its batches' changes are BookingChanges."""

    CONFIRMED = "confirmed"  # the developer confirmed: materials is asked to reserve every batch at once
    MATERIALS_REQUESTED_AGAIN = "materials_requested_again"
    ESCALATED = "escalated"
    MATERIALS_RESERVED = "materials_reserved"
    MATERIALS_SHORT = "materials_short"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    COMPLETED = "completed"


@dataclass
class Campaign(_MaterialsSaga):
    """A campaign and its rules: held → confirmed by the developer (one materials request for every
    batch, the saga) → confirmed (every batch confirmed) or materials_short (every batch short,
    nothing reserved; a fresh hold to confirm again or cancel); cancelled or expired as a whole.
    Afterwards its batches (bookings) are cancelled, moved or completed one by one; when none is
    left open the campaign ends (completed if a run took place, else cancelled).

    Each method changes the campaign and its batches in memory and returns what changed in order:
    the batches' changes (each with the batch as it was right after it), then the campaign's."""

    id: UUID
    status: CampaignStatus
    org_id: str
    batches: list[Booking]
    shortfalls: list[dict[str, object]] = field(default_factory=list)  # per batch: booking_id, shortfalls
    cancel_reason: str | None = None

    @property
    def awaiting_materials(self) -> bool:
        return awaiting_materials(self.status, self.materials_requested_at)

    @property
    def open_batches(self) -> list[Booking]:
        return [b for b in self.batches if b.status in OPEN_BOOKING_STATUSES]

    def confirm(self, now: datetime) -> "CampaignChanges":
        """Start the saga for every open batch at once; while materials answers, the hold no longer
        runs out. A repeat while materials answers changes nothing; a confirmed campaign is refused."""
        if self.status not in CAMPAIGN_UNSETTLED:
            raise Conflict(
                f"Campaign {self.id} is {self.status}; only a held or materials_short campaign can be confirmed."
            )
        if self.awaiting_materials:
            return []
        self._require_hold_running(now, f"campaign {self.id}")
        if not self.open_batches:
            raise Conflict(f"Campaign {self.id} has no open batch to confirm.")
        self._start_saga(now)
        self.shortfalls = []
        changes: CampaignChanges = [self._changed(CampaignChange.CONFIRMED)]
        if not any(b.needs_materials for b in self.open_batches):
            changes += self.materials_reserved()
        return changes

    def ask_materials_again(self, now: datetime, retry_seconds: float, max_attempts: int) -> "CampaignChanges":
        """The saga's deadline, as a booking's: ask again, escalating once after `max_attempts`."""
        if not self.awaiting_materials:
            return []
        asked = self._ask_again(
            now, retry_seconds, max_attempts, CampaignChange.ESCALATED, CampaignChange.MATERIALS_REQUESTED_AGAIN
        )
        return [self._changed(change) for change in asked]

    def materials_reserved(self) -> "CampaignChanges":
        """Every open batch is confirmed (its slots booked), the campaign with them."""
        if not self.awaiting_materials:
            return []  # cancelled meanwhile (materials releases on the cancellation), or settled
        changes: CampaignChanges = []
        for batch in self.open_batches:
            batch.status, batch.shortfalls = BookingStatus.CONFIRMED, []
            changes.append(batch._changed(BookingChange.MATERIALS_RESERVED))
        self.status = CampaignStatus.CONFIRMED
        self._answered()
        return [*changes, self._changed(CampaignChange.MATERIALS_RESERVED)]

    def materials_short(
        self, shortfalls: Sequence[tuple[UUID, list[dict[str, str]]]], now: datetime, hold_ttl_seconds: int
    ) -> "CampaignChanges":
        """Materials reserved nothing: every open batch is materials_short (with its own shortfalls,
        none for a batch that alone would have fitted), and the campaign gets a fresh hold."""
        if not self.awaiting_materials:
            return []
        short = dict(shortfalls)
        changes: CampaignChanges = []
        for batch in self.open_batches:
            batch.status, batch.shortfalls = BookingStatus.MATERIALS_SHORT, list(short.get(batch.id, []))
            changes.append(batch._changed(BookingChange.MATERIALS_SHORT))
        self.status, self.materials_requested_at = CampaignStatus.MATERIALS_SHORT, None
        self.shortfalls = [
            {"booking_id": str(b.id), "shortfalls": b.shortfalls} for b in self.open_batches if b.shortfalls
        ]
        self.hold_expires_at = now + timedelta(seconds=hold_ttl_seconds)
        self._answered()
        return [*changes, self._changed(CampaignChange.MATERIALS_SHORT)]

    def cancel(self, reason: str | None, *, by_developer: bool) -> "CampaignChanges":
        """Every open batch cancelled (materials releases what it holds), the campaign with them."""
        if self.status not in CAMPAIGN_OPEN:
            raise Conflict(f"Campaign {self.id} is {self.status}; only an open campaign can be cancelled.")
        changes: CampaignChanges = []
        for batch in self.open_batches:
            changes += batch.cancel(reason, by_developer=by_developer)
        self._end(CampaignStatus.CANCELLED)
        self.cancel_reason = reason
        return [*changes, self._changed(CampaignChange.CANCELLED)]

    def expire(self, now: datetime) -> "CampaignChanges":
        if self.status not in CAMPAIGN_UNSETTLED or not hold_expired(self.hold_expires_at, now):
            return []
        changes: CampaignChanges = []
        for batch in self.open_batches:
            batch._close(BookingStatus.EXPIRED)
            changes.append(batch._changed(BookingChange.EXPIRED))
        self._end(CampaignStatus.EXPIRED)
        return [*changes, self._changed(CampaignChange.EXPIRED)]

    def batch(self, booking_id: UUID, action: str) -> Booking:
        """One of its batches, to act on alone: not while materials answers for them all."""
        found = next((b for b in self.batches if b.id == booking_id), None)
        if found is None:
            raise NotFound(f"No batch {booking_id} in campaign {self.id}.")
        if self.awaiting_materials:
            raise Conflict(
                f"Campaign {self.id} awaits materials' answer for all its batches; batch {booking_id} can be "
                f"{action} once it has answered (or cancel the whole campaign)."
            )
        return found

    def cancel_batch(self, booking_id: UUID, reason: str | None, *, by_developer: bool) -> "CampaignChanges":
        changes = self.batch(booking_id, "cancelled").cancel(reason, by_developer=by_developer)
        return changes + self._ended_with_its_batches()

    def complete_batch(self, booking_id: UUID, now: datetime) -> "CampaignChanges":
        changes = self.batch(booking_id, "completed").complete(now)
        return changes + self._ended_with_its_batches()

    def _ended_with_its_batches(self) -> "CampaignChanges":
        """No batch left open: the campaign ends, completed if any run took place."""
        if self.open_batches or self.status not in CAMPAIGN_OPEN:
            return []
        if any(b.status is BookingStatus.COMPLETED for b in self.batches):
            self._end(CampaignStatus.COMPLETED)
            return [self._changed(CampaignChange.COMPLETED)]
        self._end(CampaignStatus.CANCELLED)
        self.cancel_reason = "Every batch was cancelled."
        return [self._changed(CampaignChange.CANCELLED)]

    def _end(self, status: CampaignStatus) -> None:
        self.status, self.hold_expires_at, self.materials_requested_at = status, None, None
        self._answered()

    def _changed(self, change: CampaignChange) -> tuple["Campaign", CampaignChange]:
        return replace(self, batches=list(self.batches), shortfalls=list(self.shortfalls)), change


CampaignChanges = list[tuple[Campaign, CampaignChange] | tuple[Booking, BookingChange]]


def check_reschedule(batch: Booking, to: "SlotFacts", facility_id: UUID, now: datetime) -> None:
    """A batch moves to another open, future slot of its own facility; a held, short or confirmed
    batch only (the reserved lots stay with it)."""
    require_status(batch.id, batch.status, OPEN_BOOKING_STATUSES, "rescheduled")
    if to.facility_id != facility_id:
        raise Unprocessable(
            f"Slot {to.id} is at facility {to.facility_id}; a batch moves within its facility {facility_id} only."
        )
    if to.status != SlotStatus.OPEN:
        raise Conflict(f"Slot {to.id} is {to.status}, not open.", slot_id=str(to.id))
    if to.starts_at <= now:
        raise Unprocessable(f"Slot {to.id} starts at {to.starts_at.isoformat()}, in the past.")

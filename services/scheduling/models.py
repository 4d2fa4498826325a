"""Scheduling tables, including its read models of other services' data."""

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSTZRANGE, ExcludeConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.scheduling.domain import BookingStatus, SlotFacts
from shared import webhook_store


class Table(SQLModel, registry=registry()):
    pass


metadata = Table.metadata
TZ = sa.DateTime(timezone=True)


def now() -> datetime:
    return datetime.now(UTC)


def _texts() -> Any:
    return Field(default_factory=list, sa_column=sa.Column(ARRAY(sa.Text), nullable=False))


# --- read models of other services -------------------------------------------------------------


class FacilityView(Table, table=True):
    """Scheduling's read model of a registry facility, fed by `gmphub.registry.v1`."""

    __tablename__ = "facility_view"
    facility_id: uuid.UUID = Field(primary_key=True)
    version: int
    legal_name: str
    country: str = Field(index=True)
    oms_location_id: str | None = None  # EMA OMS location id, as registry publishes it
    active: bool
    updated_at: datetime = Field(default_factory=now)


class SuiteView(Table, table=True):
    """A registry suite and its capabilities; `version` is the facility's version when last changed."""

    __tablename__ = "suite_view"
    suite_id: uuid.UUID = Field(primary_key=True)
    facility_id: uuid.UUID = Field(index=True)
    version: int
    name: str
    cleanroom_grade: str
    atmp_types: list[str] = _texts()
    processes: list[str] = _texts()
    retired: bool = False
    updated_at: datetime = Field(default_factory=now, sa_type=TZ)


class CertificateView(Table, table=True):
    """A facility's GMP certificate and its status, from registry events."""

    __tablename__ = "certificate_view"
    certificate_id: uuid.UUID = Field(primary_key=True)
    facility_id: uuid.UUID = Field(index=True)
    version: int
    number: str
    authority: str
    status: str
    expires_on: date
    reason: str | None = None
    updated_at: datetime = Field(default_factory=now, sa_type=TZ)


class ApprovalView(Table, table=True):
    """An approval's status, holder, authority and covered facilities, from approvals events."""

    __tablename__ = "approval_view"
    approval_id: uuid.UUID = Field(primary_key=True)
    version: int
    title: str
    status: str
    holder_org_id: str
    authority: str | None = None  # none for rows replicated before it was kept, until their next event
    facility_ids: list[uuid.UUID] = Field(default_factory=list, sa_column=sa.Column(ARRAY(sa.Uuid), nullable=False))
    updated_at: datetime = Field(default_factory=now, sa_type=TZ)


class ShortageView(Table, table=True):
    """A material shortage, from materials events; `active` ones put bookings at risk."""

    __tablename__ = "shortage_view"
    shortage_id: uuid.UUID = Field(primary_key=True)
    material_id: uuid.UUID = Field(index=True)
    material_name: str | None = None
    version: int
    status: str
    severity: str
    regions: list[str] = _texts()  # ISO country codes, EU or EEA; empty (events before regions were kept): everywhere
    reason: str | None = None
    updated_at: datetime = Field(default_factory=now, sa_type=TZ)


class SupplierChangeView(Table, table=True):
    """A supplier change touching lots reserved for a booking, from materials events: it puts the
    booking at risk until the facility accepts it (`outcome`)."""

    __tablename__ = "supplier_change_view"
    supplier_change_id: uuid.UUID = Field(primary_key=True)
    booking_id: uuid.UUID = Field(primary_key=True, index=True)
    facility_id: uuid.UUID
    change_type: str
    description: str
    effective_on: date
    risk_class: str
    outcome: str | None = None  # accepted | quarantine_lots, once the facility answered
    updated_at: datetime = Field(default_factory=now, sa_type=TZ)


# --- scheduling's own aggregates -----------------------------------------------------------------


class _Versioned(SQLModel):
    """An aggregate's version and who made and last changed it: every change a new version, attributed."""

    version: int = 1
    created_at: datetime = Field(default_factory=now, sa_type=TZ)
    created_by: str
    updated_at: datetime = Field(default_factory=now, sa_type=TZ)
    updated_by: str

    def touch(self, actor: str | None) -> None:
        self.version += 1
        self.updated_at, self.updated_by = now(), actor or "unknown"


class Slot(Table, table=True):
    """A bookable period on one suite. Its period, while the slot is live, is also in `slot_period`,
    which keeps a suite's live slots apart whatever code runs; withdrawn slots stay for history and
    no longer count."""

    __tablename__ = "slot"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="slot_ends_after_start"),
        # No index names `status`, not even in a predicate: a hold, a confirmation or a release
        # changes the status alone, and so is a HOT update (no index written; pages keep room).
        sa.Index("ix_slot_starts_at_id", "starts_at", "id"),
        sa.Index("ix_slot_suite_starts_at", "suite_id", "starts_at"),
        sa.Index("ix_slot_facility_starts_at", "facility_id", "starts_at"),
        {"postgresql_with": {"fillfactor": 80}},  # room on each page for a slot's next version
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    suite_id: uuid.UUID
    facility_id: uuid.UUID
    starts_at: datetime = Field(sa_type=TZ)
    ends_at: datetime = Field(sa_type=TZ)
    status: str
    booking_id: uuid.UUID | None = None  # unindexed: a booking keeps its slot ids
    quote_id: uuid.UUID | None = None  # a `quoted` slot's quote; unindexed: a quote keeps its slot ids
    status_reason: str | None = None
    version: int = 1
    created_at: datetime = Field(default_factory=now, sa_type=TZ)
    created_by: str
    updated_at: datetime = Field(default_factory=now, sa_type=TZ)
    updated_by: str


class SlotPeriod(Table, table=True):
    """The period a live slot takes on its suite, written only by triggers on `slot` (migration
    a4c7e2f9b1d3): a slot's period when it is added, dropped when it is withdrawn. Its exclusion
    constraint keeps a suite's live slots apart. Apart from the slot row because holding,
    confirming, releasing a slot changes its status alone and never its period: on the slot row
    each of those wrote the GiST index and checked it anew (the hold's SQL 15% faster without)."""

    __tablename__ = "slot_period"
    __table_args__ = (
        ExcludeConstraint(
            (sa.column("suite_id"), "="), (sa.column("period"), "&&"), name="slot_no_overlap", using="gist"
        ),
    )
    slot_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("slot.id", ondelete="CASCADE"), primary_key=True)
    )
    suite_id: uuid.UUID
    period: Any = Field(sa_column=sa.Column(TSTZRANGE, nullable=False))


class Booking(_Versioned, Table, table=True):
    """A developer's claim on slots of one suite, from hold to completion or cancellation."""

    __tablename__ = "booking"
    __table_args__ = (
        # Only a hold that can run out has an expiry; the expiry job reads this index.
        sa.Index(
            "ix_booking_hold_expires_at", "hold_expires_at", postgresql_where=sa.text("hold_expires_at IS NOT NULL")
        ),
        # Bookings awaiting materials' answer; the saga deadline job reads this index.
        sa.Index(
            "ix_booking_materials_asked_at",
            "materials_asked_at",
            postgresql_where=sa.text("materials_requested_at IS NOT NULL"),
        ),
        # A campaign's batches; a booking of its own (no campaign) is not in it, so costs it nothing.
        sa.Index("ix_booking_campaign_id", "campaign_id", postgresql_where=sa.text("campaign_id IS NOT NULL")),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str = Field(index=True)
    org_id: str = Field(index=True)
    facility_id: uuid.UUID = Field(index=True)
    suite_id: uuid.UUID
    slot_ids: list[uuid.UUID] = Field(sa_column=sa.Column(ARRAY(sa.Uuid), nullable=False))
    starts_at: datetime = Field(sa_type=TZ)
    ends_at: datetime = Field(sa_type=TZ)
    product: str
    run_kind: str
    approval_id: uuid.UUID | None = None
    material_needs: list[dict] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    at_risk_reasons: list[str] = _texts()
    shortfalls: list[dict] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    hold_expires_at: datetime | None = Field(default=None, sa_type=TZ)
    materials_requested_at: datetime | None = Field(default=None, sa_type=TZ)
    materials_asked_at: datetime | None = Field(default=None, sa_type=TZ)  # the saga's last request
    materials_attempts: int = 0  # requests sent to materials for the current confirmation
    materials_overdue_since: datetime | None = Field(default=None, sa_type=TZ)  # escalated: no answer
    waitlist_entry_id: uuid.UUID | None = None
    cancel_reason: str | None = None
    campaign_id: uuid.UUID | None = None  # a batch of this campaign; None: a booking of its own

    @classmethod
    def new_hold(
        cls,
        slots: Sequence["Slot | SlotFacts"],
        *,
        org_id: str,
        product: str,
        run_kind: str,
        approval_id: uuid.UUID | None,
        material_needs: list[dict],
        hold_expires_at: datetime,
        actor: str | None,
        waitlist_entry_id: uuid.UUID | None = None,
        booking_id: uuid.UUID | None = None,
    ) -> "Booking":
        """A hold on slots of one suite, for a developer or for its waitlist entry. Every field with a
        default factory is given: pydantic inspects a factory's signature at each use (`list`'s by
        parsing its text), which cost more than all the rest of a hold."""
        first, last = min(slots, key=lambda s: s.starts_at), max(slots, key=lambda s: s.ends_at)
        created = now()
        return cls(
            id=booking_id or uuid.uuid4(), status=BookingStatus.HELD.value, org_id=org_id, facility_id=first.facility_id,
            suite_id=first.suite_id, slot_ids=[s.id for s in sorted(slots, key=lambda s: s.starts_at)],
            starts_at=first.starts_at, ends_at=last.ends_at, product=product, run_kind=run_kind,
            approval_id=approval_id, material_needs=material_needs, at_risk_reasons=[], shortfalls=[],
            hold_expires_at=hold_expires_at, waitlist_entry_id=waitlist_entry_id, created_at=created,
            created_by=actor or "unknown", updated_at=created, updated_by=actor or "unknown",
        )  # fmt: skip

    @property
    def booking_id(self) -> uuid.UUID:
        """The id under the name its events and the API give it."""
        return self.id


class IdempotencyRecord(Table, table=True):
    """The first answer to a request sent with an `Idempotency-Key`, per caller."""

    __tablename__ = "idempotency_record"
    scope: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    request_hash: str
    booking_id: uuid.UUID | None = None
    response: dict | None = Field(default=None, sa_column=sa.Column(JSONB))
    created_at: datetime = Field(default_factory=now, sa_type=TZ)


class WaitlistEntry(Table, table=True):
    """A developer waiting for a slot that matches its criteria; first come, first offered."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (sa.Index("ix_waitlist_waiting", "created_at", postgresql_where=sa.text("status = 'waiting'")),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str  # waiting | offered | cancelled
    org_id: str = Field(index=True)
    product: str
    run_kind: str
    approval_id: uuid.UUID | None = None
    material_needs: list[dict] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    facility_id: uuid.UUID | None = None
    suite_id: uuid.UUID | None = None
    country: str | None = None
    atmp_type: str | None = None
    process: str | None = None
    cleanroom_grade: str | None = None
    earliest_start: datetime | None = Field(default=None, sa_type=TZ)
    latest_end: datetime | None = Field(default=None, sa_type=TZ)
    booking_id: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=now, sa_type=TZ)
    created_by: str
    updated_at: datetime = Field(default_factory=now, sa_type=TZ)
    updated_by: str

    @property
    def waitlist_entry_id(self) -> uuid.UUID:
        """The id under the name its events and the API give it."""
        return self.id

    @property
    def criteria(self) -> dict[str, str]:
        """The criteria it waits on, as its events and the API show them: only those given."""
        given = {name: getattr(self, name) for name in WAITLIST_CRITERIA}
        return {name: str(value) for name, value in given.items() if value is not None}

    def touch(self, actor: str | None) -> None:
        self.updated_at, self.updated_by = now(), actor or "unknown"


WAITLIST_CRITERIA = (
    "facility_id", "suite_id", "country", "atmp_type", "process", "cleanroom_grade", "earliest_start", "latest_end",
)  # fmt: skip


class TechnicalAgreement(_Versioned, Table, table=True):
    """A technical (quality) agreement between a developer organisation (contract giver) and a
    facility (contract acceptor), EU GMP Chapter 7: its terms, the signatures of both sides, and
    how it ended."""

    __tablename__ = "technical_agreement"
    __table_args__ = (
        # A clinical confirmation reads the agreements between its organisation and facility.
        sa.Index("ix_technical_agreement_org_facility", "org_id", "facility_id"),
        sa.CheckConstraint("valid_until > valid_from", name="technical_agreement_period"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str
    org_id: str
    facility_id: uuid.UUID = Field(index=True)
    title: str
    run_kinds: list[str] = _texts()
    processes: list[str] = _texts()
    document_url: str | None = None
    document_sha256: str | None = None
    valid_from: date
    valid_until: date
    # Each side's electronic signature (side, signer, meaning, reason, time, hash of the signed terms).
    signatures: list[dict] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    terminated_reason: str | None = None

    @property
    def agreement_id(self) -> uuid.UUID:
        """The id under the name its events and the API give it."""
        return self.id

    @property
    def terms(self) -> dict[str, Any]:
        """What both sides sign (its hash is in each signature)."""
        return {name: getattr(self, name) for name in AGREEMENT_TERMS}


AGREEMENT_TERMS = ("title", "run_kinds", "processes", "document_url", "document_sha256", "valid_from", "valid_until")


class ManufacturingRequest(_Versioned, Table, table=True):
    """A developer organisation's request for a manufacturing campaign, sent to 1–20 facilities:
    what to make, how many batches over which time frame, and what the facilities' quotes answer."""

    __tablename__ = "manufacturing_request"
    __table_args__ = (
        # A facility's list: the requests addressed to it.
        sa.Index("ix_manufacturing_request_facility_ids", "facility_ids", postgresql_using="gin"),
        sa.CheckConstraint("latest_end > earliest_start", name="manufacturing_request_window"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str
    org_id: str = Field(index=True)
    product: str
    atmp_type: str
    process: str
    batches: int
    batch_days: int
    earliest_start: date
    latest_end: date
    run_kind: str
    approval_id: uuid.UUID | None = None
    material_needs: list[dict] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    needs: str | None = None
    attachments: list[dict] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    facility_ids: list[uuid.UUID] = Field(sa_column=sa.Column(ARRAY(sa.Uuid), nullable=False))
    # Each addressed facility that declined: facility_id, reason, by, at.
    declines: list[dict] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    accepted_quote_id: uuid.UUID | None = None
    withdrawn_reason: str | None = None

    @property
    def request_id(self) -> uuid.UUID:
        """The id under the name its events and the API give it."""
        return self.id


class Quote(_Versioned, Table, table=True):
    """A facility's answer to a request: one proposed slot per batch (held for the quote while it is
    offered), a price per batch and extras in one currency, conditions, how long it is valid."""

    __tablename__ = "quote"
    __table_args__ = (
        # The expiry job reads offered quotes by validity.
        sa.Index("ix_quote_offered_valid_until", "valid_until", postgresql_where=sa.text("status = 'offered'")),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    revision: int = 1
    status: str
    request_id: uuid.UUID = Field(index=True)
    facility_id: uuid.UUID
    # One slot per batch, by start: batch (1, 2, …), slot_id, suite_id, starts_at, ends_at.
    batches: list[dict] = Field(sa_column=sa.Column(JSONB, nullable=False))
    starts_at: datetime = Field(sa_type=TZ)  # the first batch's start
    ends_at: datetime = Field(sa_type=TZ)  # the last batch's end
    currency: str
    price_per_batch: Decimal = Field(sa_column=sa.Column(sa.Numeric(14, 2), nullable=False))
    extras: list[dict] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))  # label, amount
    conditions: str | None = None
    valid_until: datetime = Field(sa_type=TZ)
    status_reason: str | None = None  # why it was declined, superseded or expired

    @property
    def quote_id(self) -> uuid.UUID:
        """The id under the name its events and the API give it."""
        return self.id

    @property
    def slot_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(str(b["slot_id"])) for b in self.batches]

    @property
    def total(self) -> Decimal:
        """Every batch at its price, and the extras."""
        return self.price_per_batch * len(self.batches) + sum((Decimal(e["amount"]) for e in self.extras), Decimal(0))


# --- notifications: webhooks of developers and facilities, reminders of expiring holds -----------


class Subscription(webhook_store.SubscriptionFields, Table, table=True):
    """A webhook of a developer organisation (the events of its bookings, agreements, waitlist
    entries) or of a facility (those of its bookings, agreements, capacity): one of the two."""

    __table_args__ = (
        sa.CheckConstraint("(org_id IS NULL) <> (facility_id IS NULL)", name="ck_subscription_subscriber"),
    )
    org_id: str | None = Field(default=None, index=True)
    facility_id: uuid.UUID | None = Field(default=None, index=True)


WEBHOOK_TABLES = webhook_store.webhook_tables(Table, Subscription)  # delivery, delivery_attempt, webhook_cursor


class HoldReminder(Table, table=True):
    """That a hold's developer and facility were told it expires soon: once per hold and expiry
    (a `materials_short` booking's fresh hold time is told again)."""

    __tablename__ = "hold_reminder"
    booking_id: uuid.UUID = Field(foreign_key="booking.id", primary_key=True)
    hold_expires_at: datetime = Field(sa_type=TZ, primary_key=True)
    reminded_at: datetime = Field(default_factory=now, sa_type=TZ)


class Campaign(_Versioned, Table, table=True):
    """An accepted quote become a manufacturing campaign: its batches are bookings (`campaign_id`),
    one per quoted slot, confirmed and reserved as a whole; what the whole's saga and hold need."""

    __tablename__ = "campaign"
    __table_args__ = (
        sa.Index(
            "ix_campaign_hold_expires_at", "hold_expires_at", postgresql_where=sa.text("hold_expires_at IS NOT NULL")
        ),
        sa.Index(
            "ix_campaign_materials_asked_at",
            "materials_asked_at",
            postgresql_where=sa.text("materials_requested_at IS NOT NULL"),
        ),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str
    request_id: uuid.UUID
    quote_id: uuid.UUID = Field(sa_column_kwargs={"unique": True})  # one campaign per accepted quote
    org_id: str = Field(index=True)
    facility_id: uuid.UUID = Field(index=True)
    product: str
    run_kind: str
    approval_id: uuid.UUID | None = None
    atmp_type: str
    process: str
    hold_expires_at: datetime | None = Field(default=None, sa_type=TZ)
    # The hold expiry its developer and facility were reminded of (once per expiry, as a booking's).
    hold_reminded_for: datetime | None = Field(default=None, sa_type=TZ)
    materials_requested_at: datetime | None = Field(default=None, sa_type=TZ)
    materials_asked_at: datetime | None = Field(default=None, sa_type=TZ)
    materials_attempts: int = 0
    materials_overdue_since: datetime | None = Field(default=None, sa_type=TZ)
    # Per batch (booking_id, shortfalls) after materials found too little; empty otherwise.
    shortfalls: list[dict] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    cancel_reason: str | None = None

    @property
    def campaign_id(self) -> uuid.UUID:
        """The id under the name its events and the API give it."""
        return self.id

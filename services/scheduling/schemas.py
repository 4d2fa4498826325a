"""Request and response bodies of the scheduling API."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Self
from uuid import UUID

from fastapi import Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from services.scheduling import domain, events, models
from services.scheduling.domain import RunKind
from shared import webhook_api
from shared.fields import IsoDate, IsoDateTime

# The paging every list of scheduling's takes (?limit=&offset=).
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


class Window(BaseModel):
    starts_at: IsoDateTime = Field(examples=["2027-03-01T08:00:00Z"])
    ends_at: IsoDateTime = Field(examples=["2027-03-05T18:00:00Z"])
    slot_minutes: int = Field(gt=0, le=60 * 24 * 60, examples=[480])
    gap_minutes: int = Field(default=0, ge=0, le=60 * 24 * 30)


class SlotPeriod(BaseModel):
    starts_at: IsoDateTime
    ends_at: IsoDateTime


class Weekly(BaseModel):
    starts_at: IsoDateTime = Field(description="The first slot's start", examples=["2027-03-01T08:00:00Z"])
    ends_at: IsoDateTime = Field(description="The first slot's end", examples=["2027-03-01T16:00:00Z"])
    until: IsoDate = Field(description="The last day a slot may start (inclusive)", examples=["2027-06-30"])
    weekdays: list[int] | None = Field(default=None, description="0 = Monday … 6 = Sunday; default the first slot's")


class CapacityIn(BaseModel):
    """Exactly one of `window`, `slots` or `weekly`."""

    suite_id: UUID
    window: Window | None = None
    slots: list[SlotPeriod] | None = Field(default=None, max_length=5000)
    weekly: Weekly | None = None

    @model_validator(mode="after")
    def one_shape(self) -> Self:
        if sum(x is not None for x in (self.window, self.slots, self.weekly)) != 1:
            raise ValueError("give exactly one of window, slots or weekly")
        return self


class SlotOut(BaseModel):
    slot_id: UUID
    suite_id: UUID
    facility_id: UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    booking_id: UUID | None = None
    status_reason: str | None = None

    @classmethod
    def of(cls, s: models.Slot) -> "SlotOut":
        return cls(slot_id=s.id, **s.model_dump(include={"suite_id", "facility_id", "starts_at", "ends_at", "status",
                                                          "booking_id", "status_reason"}))  # fmt: skip


class AvailableSlot(SlotOut):
    suite_name: str
    cleanroom_grade: str
    atmp_types: list[str]
    processes: list[str]
    facility_name: str
    country: str
    facility_oms_location_id: str | None = Field(
        default=None, description="The facility's EMA OMS location id (LOC- and 9 digits), where registry has it"
    )


class SlotPage(BaseModel):
    items: list[AvailableSlot]
    next_cursor: str | None = Field(description="Pass as `after` for the next page; null on the last page")


class OpenInMonth(BaseModel):
    month: str = Field(examples=["2027-03"], description="A calendar month in UTC")
    open_slots: int = Field(description="Slots starting in the month still open to booking")


class SuiteCapacity(BaseModel):
    suite_id: UUID
    suite_name: str
    cleanroom_grade: str
    months: list[OpenInMonth]


class PublicCapacity(BaseModel):
    """What the public directory shows of a facility's capacity: counts of open slots, and
    nothing of bookings, holds or who made them."""

    facility_id: UUID
    months: list[str] = Field(description="This month and the eleven after it (UTC)")
    suites: list[SuiteCapacity]


class CapacityOut(BaseModel):
    suite_id: UUID
    slots: list[SlotOut]
    waitlist_holds: int = Field(description="How many of the new slots went straight to waitlisted developers")


class SlotChange(BaseModel):
    slot_ids: list[UUID] = Field(min_length=1, max_length=5000)
    reason: str | None = Field(default=None, max_length=1000)


class MaterialNeedIn(BaseModel):
    material_id: UUID
    quantity: Decimal = Field(gt=0, max_digits=18, decimal_places=6)
    unit: str = Field(min_length=1, max_length=20, examples=["mL"])


class BookingIn(BaseModel):
    slot_ids: list[UUID] = Field(min_length=1, max_length=100)
    product: str = Field(min_length=1, max_length=300, examples=["CAR-T CD19 autologous"])
    run_kind: RunKind
    approval_id: UUID | None = Field(default=None, description="Required for a clinical run")
    material_needs: list[MaterialNeedIn] = Field(default=[], max_length=100)


class BookingOut(BaseModel):
    booking_id: UUID
    version: int
    status: str
    org_id: str
    facility_id: UUID
    suite_id: UUID
    slot_ids: list[UUID]
    starts_at: datetime
    ends_at: datetime
    product: str
    run_kind: str
    approval_id: UUID | None
    material_needs: list[dict]
    at_risk: bool
    at_risk_reasons: list[str]
    shortfalls: list[dict]
    hold_expires_at: datetime | None
    awaiting_materials: bool = Field(description="Confirmed by the developer; materials is reserving")
    materials_attempts: int = Field(description="Reservation requests sent to materials for this confirmation")
    materials_overdue_since: datetime | None = Field(
        description="Set when materials answered none of the requests within the saga's deadline (escalated)"
    )
    waitlist_entry_id: UUID | None
    cancel_reason: str | None
    campaign_id: UUID | None = Field(default=None, description="The campaign it is a batch of, if any")
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, b: models.Booking) -> "BookingOut":
        fields = b.model_dump(exclude={"id", "materials_requested_at", "materials_asked_at"})
        return cls(
            booking_id=b.id,
            at_risk=bool(b.at_risk_reasons),
            awaiting_materials=domain.awaiting_materials(b.status, b.materials_requested_at),
            **fields,
        )


class RelyingBookingOut(BaseModel):
    """A live booking relying on an approval, as its authority sees it: the run, not the materials."""

    booking_id: UUID
    approval_id: UUID
    facility_id: UUID
    suite_id: UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    awaiting_materials: bool = Field(description="Confirmed by the developer; materials is reserving")
    run_kind: str
    holder_org_id: str = Field(description="The developer organisation holding the booking")

    @classmethod
    def of(cls, b: models.Booking) -> "RelyingBookingOut":
        assert b.approval_id is not None  # the query asks for bookings relying on an approval
        return cls(
            booking_id=b.id, approval_id=b.approval_id, facility_id=b.facility_id, suite_id=b.suite_id,
            starts_at=b.starts_at, ends_at=b.ends_at, status=b.status, run_kind=b.run_kind, holder_org_id=b.org_id,
            awaiting_materials=domain.awaiting_materials(b.status, b.materials_requested_at),
        )  # fmt: skip


class CancelIn(BaseModel):
    reason: str | None = Field(default=None, max_length=1000, description="Required when the facility cancels")


class WaitlistIn(BaseModel):
    product: str = Field(min_length=1, max_length=300)
    run_kind: RunKind
    approval_id: UUID | None = None
    material_needs: list[MaterialNeedIn] = Field(default=[], max_length=100)
    facility_id: UUID | None = None
    suite_id: UUID | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    atmp_type: str | None = None
    process: str | None = None
    cleanroom_grade: str | None = None
    earliest_start: IsoDateTime | None = None
    latest_end: IsoDateTime | None = None

    @model_validator(mode="after")
    def a_window_that_can_hold_a_run(self) -> Self:
        if self.earliest_start and self.latest_end and self.earliest_start >= self.latest_end:
            raise ValueError("earliest_start must be before latest_end")
        return self


class WaitlistOut(BaseModel):
    waitlist_entry_id: UUID
    status: str
    org_id: str
    product: str
    run_kind: str
    booking_id: UUID | None
    criteria: dict[str, str]
    created_at: datetime
    position: int | None = Field(
        default=None,
        description="A waiting entry's place in line, from 1: the waiting entries that joined before it and that "
        "a slot matching it could match too are offered first. Null when not waiting.",
    )

    @classmethod
    def of(cls, entry: models.WaitlistEntry, position: int | None) -> "WaitlistOut":
        return cls.model_validate(entry, from_attributes=True).model_copy(update={"position": position})


# --- technical agreements ------------------------------------------------------------------------


class AgreementIn(BaseModel):
    """The terms of a technical agreement, drafted by either side: a developer (its own `org_id`, the
    default) or a user of the facility (naming the organisation)."""

    org_id: str | None = Field(default=None, min_length=1, max_length=100, description="The contract giver")
    facility_id: UUID = Field(description="The contract acceptor")
    title: str = Field(min_length=3, max_length=300, examples=["Quality agreement: CD19 CAR-T clinical supply"])
    run_kinds: list[RunKind] = Field(min_length=1, max_length=3, examples=[["clinical"]])
    processes: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default=[], max_length=50, description="The processes covered (empty: any)", examples=[["car_t"]]
    )
    document_url: HttpUrl | None = Field(default=None, description="Where the contract document is")
    document_sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$", description="Its SHA-256 (hex)")
    valid_from: IsoDate = Field(examples=["2027-01-01"])
    valid_until: IsoDate = Field(description="The last valid day", examples=["2029-12-31"])
    reason: str | None = Field(default=None, max_length=2000, description="Why it is drafted (in its history)")

    @model_validator(mode="after")
    def _one_of_each(self) -> Self:
        if len(set(self.run_kinds)) != len(self.run_kinds) or len(set(self.processes)) != len(self.processes):
            raise ValueError("run_kinds and processes list each entry once.")
        return self


class AgreementSignatureIn(BaseModel):
    """An electronic signature on the agreement's terms, for the side the signer belongs to: the
    signer and time come from the token and the clock."""

    side: domain.Side = Field(description="contract_giver (a developer of the organisation) or contract_acceptor "
                                          "(a user of the facility)")  # fmt: skip
    meaning: str = Field(min_length=3, max_length=200, examples=["Agreed as contract acceptor"])
    reason: str = Field(min_length=3, max_length=2000, examples=["Terms reviewed by QA; Chapter 7 duties allocated."])


class TerminationIn(BaseModel):
    reason: str = Field(min_length=3, max_length=2000, examples=["Programme moved to another manufacturer."])


class AgreementOut(events.AgreementState):
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, row: models.TechnicalAgreement) -> "AgreementOut":
        return cls.model_validate(row, from_attributes=True)


# --- manufacturing requests and quotes -------------------------------------------------------------

Text = Annotated[str, StringConstraints(min_length=1, max_length=100)]
AMOUNT = re.compile(r"\d{1,12}(\.\d{1,2})?")


def _money_text(value: object) -> object:
    """Money comes as decimal text ("48000.00"): a JSON number is a float to most clients."""
    if not isinstance(value, str) or not AMOUNT.fullmatch(value):
        raise ValueError('an amount is decimal text with at most 2 decimals, e.g. "48000.00"')
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_money_text),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "examples": ["48000.00"]}),
]


class AttachmentIn(BaseModel):
    """A document by reference: the hub stores no file."""

    title: str = Field(min_length=1, max_length=300, examples=["Process description v3"])
    url: HttpUrl
    sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$", description="Its SHA-256 (hex)")


class SiteMatch(BaseModel):
    """The slot search's site filters (`GET /v1/slots`): a request with a match goes to every active
    facility, certified today, with a suite that fits them and runs the request's ATMP type and process."""

    model_config = ConfigDict(extra="forbid")  # a misspelt filter would ask every facility

    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", examples=["DE"])
    cleanroom_grade: str | None = Field(default=None, examples=["B"])
    atmp_type: Text | None = Field(default=None, description="The request's own (the default); no other")
    process: Text | None = Field(default=None, description="The request's own (the default); no other")

    def filters(self, atmp_type: str, process: str) -> domain.SlotFilters:
        """As the slot search's filters, for a request of this ATMP type and process."""
        return domain.SlotFilters(
            country=self.country, cleanroom_grade=self.cleanroom_grade, atmp_type=atmp_type, process=process
        )


class RequestIn(BaseModel):
    """A manufacturing request of the caller's organisation, to 1–20 facilities: those named, or
    those a match finds."""

    facility_ids: list[UUID] | None = Field(
        default=None, min_length=1, max_length=domain.MAX_ADDRESSED_FACILITIES,
        description="The facilities asked to quote (or `match`)",
    )  # fmt: skip
    match: SiteMatch | None = Field(
        default=None, description="Ask every facility that fits instead (or `facility_ids`): 1–20 must"
    )
    product: str = Field(min_length=1, max_length=300, examples=["CAR-T CD19 autologous"])
    atmp_type: Text = Field(examples=["somatic_cell_therapy"])
    process: Text = Field(examples=["car_t"])
    batches: int = Field(ge=1, le=50, examples=[3])
    batch_days: int = Field(ge=1, le=365, description="How long one batch runs, in days", examples=[14])
    earliest_start: IsoDate = Field(examples=["2027-03-01"])
    latest_end: IsoDate = Field(examples=["2027-09-30"])
    run_kind: RunKind
    approval_id: UUID | None = Field(default=None, description="The approval it relies on; required for clinical")
    material_needs: list[MaterialNeedIn] = Field(default=[], max_length=100, description="Per batch")
    needs: str | None = Field(default=None, max_length=5000, description="Anything else the facilities should know")
    attachments: list[AttachmentIn] = Field(default=[], max_length=20)

    @model_validator(mode="after")
    def _well_formed(self) -> Self:
        if (self.facility_ids is None) == (self.match is None):
            raise ValueError("name the facilities either by facility_ids or by a match, one of the two.")
        if self.facility_ids is not None and len(set(self.facility_ids)) != len(self.facility_ids):
            raise ValueError("facility_ids list each facility once.")
        if self.match is not None and (
            self.match.atmp_type not in (None, self.atmp_type) or self.match.process not in (None, self.process)
        ):
            raise ValueError("a match finds facilities for the request's own atmp_type and process; name no other.")
        if self.run_kind is RunKind.CLINICAL and self.approval_id is None:
            raise ValueError("a clinical run needs approval_id: the approval it relies on.")
        return self


class ReasonIn(BaseModel):
    reason: str = Field(min_length=3, max_length=2000, examples=["Programme moved to another indication."])


class ExtraIn(BaseModel):
    label: str = Field(min_length=1, max_length=200, examples=["Release testing (sterility, mycoplasma)"])
    amount: Money


class QuoteTermsIn(BaseModel):
    """What a quote offers: one open slot of the facility's own suites per batch, and the price."""

    slot_ids: list[UUID] = Field(min_length=1, max_length=50, description="One per batch")
    currency: str = Field(pattern="^[A-Z]{3}$", description="ISO 4217", examples=["EUR"])
    price_per_batch: Money
    extras: list[ExtraIn] = Field(default=[], max_length=20)
    conditions: str | None = Field(default=None, max_length=5000)
    valid_until: IsoDateTime = Field(description="Its slots are held until then (at most 90 days ahead)")


class QuoteIn(QuoteTermsIn):
    facility_id: UUID | None = Field(
        default=None, description="Which of the caller's facilities quotes (needed only if several are addressed)"
    )


class QuoteOut(events.QuoteState):
    status_reason: str | None
    campaign_id: UUID | None = Field(default=None, description="In the acceptance's answer: the campaign it became")
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, row: models.Quote) -> "QuoteOut":
        return cls.model_validate(row, from_attributes=True)


class RequestOut(events.RequestState):
    declines: list[events.RequestDecline]
    withdrawn_reason: str | None
    quotes: list[QuoteOut] = Field(default=[], description="The answers the caller may see: all for the developer, "
                                                "a facility's own for a facility user")  # fmt: skip
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(
        cls, row: models.ManufacturingRequest, quotes: list[models.Quote], *, only: set[UUID] | None = None
    ) -> "RequestOut":
        """With `only`, the request as those facilities see it: addressed to them, declined by them."""
        out = cls.model_validate(row, from_attributes=True)
        update: dict = {"quotes": [QuoteOut.of(q) for q in quotes]}
        if only is not None:
            update["facility_ids"] = [f for f in out.facility_ids if f in only]
            update["declines"] = [d for d in out.declines if d.facility_id in only]
        return out.model_copy(update=update)


class SubscriptionIn(webhook_api.SubscriptionInFields):
    org_id: str | None = Field(
        default=None, description="Developers: their own organisation (the default). The hub operator names one "
        "organisation or one facility.",
    )  # fmt: skip
    facility_id: UUID | None = Field(
        default=None, description="Facility users: one of their facilities (the default when their token lists one)."
    )
    event_types: list[str] = Field(
        default=[], max_length=20, description="Scheduling event types to receive; empty means all.",
        examples=[["gmphub.scheduling.booking.held.v1", "gmphub.scheduling.booking.hold_expiring.v1"]],
    )  # fmt: skip


class SubscriptionOut(webhook_api.SubscriptionOutFields):
    org_id: str | None = Field(default=None, description="The organisation whose events it follows, or")
    facility_id: UUID | None = Field(default=None, description="the facility whose events it follows.")


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description=webhook_api.SECRET_DESCRIPTION)


class CampaignBatchOut(events.CampaignBatch):
    """A batch as the campaign shows it; `GET /v1/bookings/{booking_id}` has the whole booking."""

    at_risk_reasons: list[str]
    shortfalls: list[dict]
    cancel_reason: str | None


class CampaignOut(events.CampaignState):
    batches: list[CampaignBatchOut]  # type: ignore[assignment]
    awaiting_materials: bool = Field(description="Confirmed by the developer; materials is reserving every batch")
    materials_attempts: int = Field(description="Reservation requests sent to materials for this confirmation")
    materials_overdue_since: datetime | None
    cancel_reason: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, row: models.Campaign, batch_rows: list[models.Booking]) -> "CampaignOut":
        in_order = sorted(batch_rows, key=lambda b: (b.starts_at, b.id))
        batches = [
            CampaignBatchOut.model_validate(b.model_dump() | {"batch": n, "booking_id": b.id})
            for n, b in enumerate(in_order, start=1)
        ]
        awaiting = domain.awaiting_materials(row.status, row.materials_requested_at)
        return cls.model_validate(
            row.model_dump() | {"campaign_id": row.id, "batches": batches, "awaiting_materials": awaiting}
        )


class RescheduleIn(BaseModel):
    slot_id: UUID = Field(description="An open slot of the campaign's facility")
    reason: str = Field(min_length=3, max_length=2000, examples=["Suite 2 requalification moved to that week."])

"""Events the scheduling service publishes on `gmphub.scheduling.v1`, keyed by booking id (or by
suite id for capacity, by agreement id for technical agreements, by request id for manufacturing
requests and their quotes), so one booking's life stays in order."""

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from shared.events import ChainAnchored, Event
from shared.subscriptions import subscription_events

# Whom of the parties an event's data names (organisations, facilities) its webhooks and the event
# stream tell (webhooks.py): all of them unless the event class says otherwise.
Audience = Literal["parties", "developer", "addressed facility"]


class MaterialNeed(BaseModel):
    material_id: UUID
    quantity: Decimal
    unit: str


class BookingState(BaseModel):
    booking_id: UUID
    version: int
    status: str  # held | confirmed | materials_short | expired | cancelled | completed
    org_id: str
    facility_id: UUID
    suite_id: UUID
    slot_ids: list[UUID]
    starts_at: datetime
    ends_at: datetime
    product: str
    run_kind: str  # development | engineering | clinical
    approval_id: UUID | None = None
    material_needs: list[MaterialNeed] = []
    at_risk_reasons: list[str] = []


class _BookingEvent(Event):
    aggregate_field = "booking_id"
    booking_id: UUID
    booking: BookingState


class CapacityPublished(Event):
    """A facility published slots on one of its suites."""

    type = "gmphub.scheduling.capacity.published.v1"
    aggregate_field = "suite_id"
    suite_id: UUID
    facility_id: UUID
    slot_ids: list[UUID]
    first_start: datetime
    last_end: datetime


class SlotsWithdrawn(Event):
    """A facility withdrew or blocked open slots."""

    type = "gmphub.scheduling.slots.withdrawn.v1"
    aggregate_field = "suite_id"
    suite_id: UUID
    facility_id: UUID
    slot_ids: list[UUID]
    status: str  # blocked | withdrawn
    reason: str | None = None


class BookingHeld(_BookingEvent):
    """A developer holds slots; the hold expires unless confirmed."""

    type = "gmphub.scheduling.booking.held.v1"
    hold_expires_at: datetime


class BookingConfirmed(_BookingEvent):
    """The developer confirmed the hold; materials now reserves its material needs (the saga).
    Sent again (`attempt` 2, 3, …) while materials has not answered within the saga's deadline."""

    type = "gmphub.scheduling.booking.confirmed.v1"
    attempt: int = 1


class BookingEscalated(_BookingEvent):
    """Materials has not answered the booking's reservation request after `attempts` requests since
    `awaiting_since`: the booking is flagged `materials_overdue` for its developer, its facility and
    the hub operator. Scheduling keeps asking; the answer, when it comes, settles the booking."""

    type = "gmphub.scheduling.booking.escalated.v1"
    attempts: int
    awaiting_since: datetime


class BookingMaterialsReserved(_BookingEvent):
    """Materials reserved everything the booking needs; the booking is `confirmed`."""

    type = "gmphub.scheduling.booking.materials_reserved.v1"


class BookingMaterialsShort(_BookingEvent):
    """Materials could not reserve what the booking needs; the booking is `materials_short`."""

    type = "gmphub.scheduling.booking.materials_short.v1"


class BookingExpired(_BookingEvent):
    """A hold was not confirmed in time; its slots are open again."""

    type = "gmphub.scheduling.booking.expired.v1"


class BookingCancelled(_BookingEvent):
    """A booking was cancelled by its developer or the facility; its slots and materials are freed."""

    type = "gmphub.scheduling.booking.cancelled.v1"
    reason: str | None = None


class BookingCompleted(_BookingEvent):
    """The manufacturing run took place."""

    type = "gmphub.scheduling.booking.completed.v1"


class BookingFlaggedAtRisk(_BookingEvent):
    """A booking's at-risk reasons changed (certificate, shortage); empty reasons mean cleared."""

    type = "gmphub.scheduling.booking.at_risk_changed.v1"


class WaitlistHoldOffered(_BookingEvent):
    """A slot matching a waitlist entry opened, and the first in line got a hold."""

    type = "gmphub.scheduling.waitlist.hold_offered.v1"
    waitlist_entry_id: UUID
    hold_expires_at: datetime | None = None


class SlotsReopened(Event):
    """A facility reopened blocked slots; they are bookable again."""

    type = "gmphub.scheduling.slots.reopened.v1"
    aggregate_field = "suite_id"
    suite_id: UUID
    facility_id: UUID
    slot_ids: list[UUID]


class WaitlistEntryState(BaseModel):
    waitlist_entry_id: UUID
    status: str  # waiting | offered | cancelled
    org_id: str
    product: str
    run_kind: str
    criteria: dict[str, str]  # the filters it waits on (facility_id, country, atmp_type, process, ...)
    booking_id: UUID | None = None


class WaitlistJoined(Event):
    """A developer joined the waitlist with its criteria."""

    type = "gmphub.scheduling.waitlist.joined.v1"
    aggregate_field = "waitlist_entry_id"
    waitlist_entry_id: UUID
    entry: WaitlistEntryState


class WaitlistLeft(Event):
    """A developer left the waitlist."""

    type = "gmphub.scheduling.waitlist.left.v1"
    aggregate_field = "waitlist_entry_id"
    waitlist_entry_id: UUID
    entry: WaitlistEntryState


class AgreementTerms(BaseModel):
    """What both sides of a technical agreement sign."""

    title: str
    run_kinds: list[str] = Field(description="The run kinds it covers: development | engineering | clinical.")
    processes: list[str] = Field(description="The processes it covers (e.g. car_t); empty: any.")
    document_url: str | None = Field(default=None, description="Where the signed contract document is.")
    document_sha256: str | None = Field(default=None, description="SHA-256 (hex) of that document.")
    valid_from: date
    valid_until: date = Field(description="Its last valid day; after it, the agreement expires.")


class AgreementSignature(BaseModel):
    """One side's electronic signature (EU GMP Annex 11): which side, who, when, what it means, why,
    and the SHA-256 of the canonical JSON of the `terms` signed (both sides sign the same terms)."""

    side: str = Field(description="contract_giver (the developer organisation) | contract_acceptor (the facility)")
    signer: str
    signer_name: str | None = None
    meaning: str
    reason: str
    signed_at: datetime
    state_sha256: str = Field(description="SHA-256 (hex) of the signed `terms` as canonical JSON (sorted keys).")


class AgreementState(BaseModel):
    """A technical agreement as it stands after the event: consumers keep the highest `version`."""

    agreement_id: UUID
    version: int
    status: str  # draft | signed_by_one | active | terminated | expired
    org_id: str = Field(description="The developer organisation: the contract giver.")
    facility_id: UUID = Field(description="The facility: the contract acceptor.")
    terms: AgreementTerms
    signatures: list[AgreementSignature] = []
    terminated_reason: str | None = None


class _AgreementEvent(Event):
    aggregate_field = "agreement_id"
    agreement_id: UUID
    agreement: AgreementState


class AgreementDrafted(_AgreementEvent):
    """A developer organisation or a facility drafted a technical agreement between the two."""

    type = "gmphub.scheduling.agreement.drafted.v1"
    reason: str | None = None


class AgreementSigned(_AgreementEvent):
    """One side signed the agreement; with both sides' signatures it is `active`."""

    type = "gmphub.scheduling.agreement.signed.v1"
    signature: AgreementSignature


class AgreementTerminated(_AgreementEvent):
    """One side terminated the agreement, with a reason; clinical runs no longer rely on it."""

    type = "gmphub.scheduling.agreement.terminated.v1"
    reason: str


class AgreementExpired(_AgreementEvent):
    """The agreement's last valid day passed before it ended otherwise."""

    type = "gmphub.scheduling.agreement.expired.v1"
    reason: str


class Attachment(BaseModel):
    title: str
    url: str
    sha256: str | None = None


class RequestDecline(BaseModel):
    facility_id: UUID
    reason: str
    declined_by: str
    declined_at: datetime


class RequestState(BaseModel):
    """A manufacturing request as it stands after the event: consumers keep the highest `version`."""

    request_id: UUID
    version: int
    status: str  # open | quoted | accepted | withdrawn
    org_id: str
    product: str
    atmp_type: str
    process: str
    batches: int
    batch_days: int
    earliest_start: date
    latest_end: date
    run_kind: str  # development | engineering | clinical
    approval_id: UUID | None = None
    material_needs: list[MaterialNeed] = Field(default=[], description="Per batch")
    needs: str | None = None
    attachments: list[Attachment] = []
    facility_ids: list[UUID] = Field(description="The facilities it is addressed to")
    accepted_quote_id: UUID | None = None


class _RequestEvent(Event):
    # The request as sent names every addressed facility; the API shows a facility only its own part.
    audience: ClassVar[Audience] = "developer"
    aggregate_field = "request_id"
    request_id: UUID
    request: RequestState


class RequestSent(_RequestEvent):
    """A developer organisation sent a manufacturing request to facilities."""

    type = "gmphub.scheduling.request.sent.v1"


class RequestReceived(_RequestEvent):
    """A request was sent to this facility: one event per addressed facility, told to it alone, with
    the request as that facility sees it (`request.facility_ids` names it only)."""

    type = "gmphub.scheduling.request.received.v1"
    audience: ClassVar[Audience] = "addressed facility"  # its own copy (the developer has `request.sent`)
    facility_id: UUID


class RequestWithdrawn(_RequestEvent):
    """The developer withdrew the request; its offered quotes are superseded and their slots released."""

    type = "gmphub.scheduling.request.withdrawn.v1"
    reason: str


class RequestDeclined(_RequestEvent):
    """An addressed facility declined the request, with a reason; the others may still quote."""

    type = "gmphub.scheduling.request.declined.v1"
    facility_id: UUID
    reason: str


class Extra(BaseModel):
    label: str
    amount: Decimal


class QuotedBatch(BaseModel):
    """One batch of a quote: the slot held for it."""

    batch: int = Field(description="1, 2, … in time order")
    slot_id: UUID
    suite_id: UUID
    starts_at: datetime
    ends_at: datetime


class QuoteState(BaseModel):
    """A quote as it stands after the event (`revision` counts its revisions, from 1)."""

    quote_id: UUID
    request_id: UUID
    version: int
    revision: int
    status: str  # offered | accepted | declined | expired | superseded
    facility_id: UUID
    batches: list[QuotedBatch] = Field(description="One slot per batch, held for the quote while it is offered")
    currency: str = Field(description="ISO 4217")
    price_per_batch: Decimal
    extras: list[Extra] = []
    total: Decimal = Field(description="price_per_batch × batches + extras")
    conditions: str | None = None
    valid_until: datetime


class _QuoteEvent(Event):
    """Quote events are keyed by their request: a request's negotiation stays in order, in its history."""

    aggregate_field = "request_id"
    request_id: UUID
    quote_id: UUID
    quote: QuoteState
    # Optional: events published before it was added lack it.
    org_id: str | None = Field(
        default=None, description="The developer organisation of the request: its webhooks and stream are told"
    )


class QuoteSent(_QuoteEvent):
    """A facility answered a request with a quote; its slots are held for it. The request is `quoted`."""

    type = "gmphub.scheduling.quote.sent.v1"
    audience: ClassVar[Audience] = "developer"  # `request` as sent to every addressed facility
    request: RequestState


class QuoteRevised(_QuoteEvent):
    """The facility revised its quote (a new `revision`); slots no longer proposed are released."""

    type = "gmphub.scheduling.quote.revised.v1"
    released_slot_ids: list[UUID] = []


class QuoteDeclined(_QuoteEvent):
    """The facility withdrew its quote, with a reason; its slots are released."""

    type = "gmphub.scheduling.quote.declined.v1"
    reason: str


class QuoteAccepted(_QuoteEvent):
    """The developer accepted the quote: the request is `accepted`, and the quote's slots stay held
    for it, one per batch (`quote.batches`), for the campaign it becomes."""

    type = "gmphub.scheduling.quote.accepted.v1"
    audience: ClassVar[Audience] = "developer"  # `request` as sent to every addressed facility
    request: RequestState


class QuoteSuperseded(_QuoteEvent):
    """Another quote of the request was accepted, or the request withdrawn; its slots are released."""

    type = "gmphub.scheduling.quote.superseded.v1"
    reason: str


class QuoteExpired(_QuoteEvent):
    """The quote's validity ran out before it was accepted; its slots are released."""

    type = "gmphub.scheduling.quote.expired.v1"
    reason: str


class BookingHoldExpiring(_BookingEvent):
    """A hold expires soon (GMPHUB_HOLD_REMINDER_SECONDS before `hold_expires_at`) unless its
    developer confirms it: told once per hold."""

    type = "gmphub.scheduling.booking.hold_expiring.v1"
    hold_expires_at: datetime


class SubscriptionState(BaseModel):
    subscription_id: UUID
    url: str
    # Not `org_id`/`facility_id`: subscription events are the audit trail of the subscriptions
    # themselves and are never sent to webhooks or the stream (which route on those).
    subscriber_org_id: str | None = None
    subscriber_facility_id: UUID | None = None
    event_types: list[str]
    active: bool
    previous_secret_expires_at: datetime | None = None


SubscriptionEvent, SubscriptionCreated, SubscriptionSecretRotated, SubscriptionEnded = subscription_events(
    "scheduling", SubscriptionState
)


class BookingRescheduled(_BookingEvent):
    """A campaign's batch moved to another open slot of its facility (`booking.slot_ids` now);
    `from_slot_ids` are open again. What materials reserved for it stays with it."""

    type = "gmphub.scheduling.booking.rescheduled.v1"
    from_slot_ids: list[UUID]
    reason: str


class CampaignBatch(BaseModel):
    """One batch of a campaign: a booking of its own (its events keyed by `booking_id`)."""

    batch: int = Field(description="1, 2, … in the quote's time order")
    booking_id: UUID
    status: str  # held | confirmed | materials_short | expired | cancelled | completed
    suite_id: UUID
    slot_ids: list[UUID]
    starts_at: datetime
    ends_at: datetime


class Shortfall(BaseModel):
    material_id: UUID
    requested: Decimal
    available: Decimal
    unit: str


class BatchShortfalls(BaseModel):
    booking_id: UUID
    shortfalls: list[Shortfall]


class CampaignState(BaseModel):
    """A campaign as it stands after the event: consumers keep the highest `version`."""

    campaign_id: UUID
    version: int
    status: str  # held | confirmed | materials_short | expired | cancelled | completed
    request_id: UUID
    quote_id: UUID
    org_id: str
    facility_id: UUID
    product: str
    run_kind: str  # development | engineering | clinical
    approval_id: UUID | None = None
    batches: list[CampaignBatch]
    hold_expires_at: datetime | None = None
    shortfalls: list[BatchShortfalls] = Field(default=[], description="Per batch, after materials found too little")


class _CampaignEvent(Event):
    """Campaign events are keyed by the campaign: its saga stays in order (its batches' own events,
    keyed by booking, tell each batch's life)."""

    aggregate_field = "campaign_id"
    campaign_id: UUID
    campaign: CampaignState


class CampaignHeld(_CampaignEvent):
    """The developer accepted a quote: its slots are held for the campaign's batches, one booking each."""

    type = "gmphub.scheduling.campaign.held.v1"


class CampaignHoldExpiring(_CampaignEvent):
    """The campaign's hold expires soon (GMPHUB_HOLD_REMINDER_SECONDS before `hold_expires_at`)
    unless its developer confirms it: told once per hold, as a booking's."""

    type = "gmphub.scheduling.campaign.hold_expiring.v1"
    hold_expires_at: datetime


class BatchToReserve(BaseModel):
    booking_id: UUID
    starts_at: datetime
    material_needs: list[MaterialNeed]


class CampaignConfirmed(_CampaignEvent):
    """The developer confirmed the campaign: materials reserves every batch's needs in one
    transaction, or none, and answers once for all. Sent again (`attempt` 2, 3, …) while
    materials has not answered within the saga's deadline."""

    type = "gmphub.scheduling.campaign.confirmed.v1"
    reserve: list[BatchToReserve]
    attempt: int = 1


class CampaignEscalated(_CampaignEvent):
    """Materials has not answered the campaign's reservation request after `attempts` requests."""

    type = "gmphub.scheduling.campaign.escalated.v1"
    attempts: int
    awaiting_since: datetime


class CampaignMaterialsReserved(_CampaignEvent):
    """Materials reserved every batch's needs: every open batch is `confirmed`, its slots booked."""

    type = "gmphub.scheduling.campaign.materials_reserved.v1"


class CampaignMaterialsShort(_CampaignEvent):
    """Materials could not meet some batch's needs and reserved nothing: the campaign and its open
    batches are `materials_short` (`campaign.shortfalls` per batch), with a fresh hold."""

    type = "gmphub.scheduling.campaign.materials_short.v1"


class CampaignCancelled(_CampaignEvent):
    """The campaign was cancelled as a whole (or its last open batch was): its slots are free, and
    materials releases whatever its batches hold."""

    type = "gmphub.scheduling.campaign.cancelled.v1"
    reason: str | None = None


class CampaignExpired(_CampaignEvent):
    """The campaign's hold ran out before it was confirmed; its slots are open again."""

    type = "gmphub.scheduling.campaign.expired.v1"


class CampaignCompleted(_CampaignEvent):
    """No batch is left open and at least one run took place."""

    type = "gmphub.scheduling.campaign.completed.v1"


class AuditAnchored(ChainAnchored):
    """The head of the scheduling service's event-history hash chain, hourly and on demand (`gmp-hub audit anchor`)."""

    type = "gmphub.scheduling.audit.anchored.v1"

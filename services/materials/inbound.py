"""Materials' own models of the scheduling events it follows (the booking side of the reservation
saga): the producer's type, and only the fields materials reads. Scheduling publishes more; what
is not here is ignored. tests/unit/test_contracts.py checks each against scheduling's AsyncAPI
document, so a change there that would break materials fails the build."""

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel

from shared.events import InboundEvent


class MaterialNeed(BaseModel):
    material_id: UUID
    quantity: Decimal
    unit: str


class Booking(BaseModel):
    """What the saga needs of a booking: where, from when, and what it needs."""

    version: int
    facility_id: UUID
    starts_at: datetime
    material_needs: list[MaterialNeed] = []


class BookingConfirmed(InboundEvent):
    """Reserve the booking's needs (sent again while materials' answer is overdue)."""

    type = "gmphub.scheduling.booking.confirmed.v1"
    booking_id: UUID
    booking: Booking


class BookingCancelled(InboundEvent):
    """Release what the booking holds."""

    type = "gmphub.scheduling.booking.cancelled.v1"
    booking_id: UUID


class BookingCompleted(InboundEvent):
    """The run took place: what the booking holds is used up."""

    type = "gmphub.scheduling.booking.completed.v1"
    booking_id: UUID


class BatchToReserve(BaseModel):
    booking_id: UUID
    starts_at: datetime
    material_needs: list[MaterialNeed] = []


class Campaign(BaseModel):
    version: int
    facility_id: UUID


class CampaignConfirmed(InboundEvent):
    """Reserve every batch's needs in one transaction, or none (sent again while overdue)."""

    type = "gmphub.scheduling.campaign.confirmed.v1"
    campaign_id: UUID
    campaign: Campaign
    reserve: list[BatchToReserve]


class CampaignBatch(BaseModel):
    booking_id: UUID


class CampaignBatches(BaseModel):
    batches: list[CampaignBatch]


class CampaignCancelled(InboundEvent):
    """Release what the campaign's batches hold. Keyed by the campaign as its confirmation is, so it
    comes after it: a reservation made for a campaign cancelled meanwhile is released all the same."""

    type = "gmphub.scheduling.campaign.cancelled.v1"
    campaign_id: UUID
    campaign: CampaignBatches

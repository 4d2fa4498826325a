"""The events materials follows, mapped to their handlers: the booking side of the reservation saga."""

from services.materials import inbound, inventory
from shared.consumer import Handler
from shared.events import InboundEvent
from shared.settings import Settings


def follows(settings: Settings) -> dict[type[InboundEvent], Handler]:
    """The handlers, given the settings they need (the service's one place of wiring)."""
    return {
        inbound.BookingConfirmed: inventory.reserve_for_booking,
        inbound.BookingCancelled: inventory.release_for_booking,
        inbound.BookingCompleted: inventory.consume_for_booking,
        inbound.CampaignConfirmed: inventory.reserve_for_campaign,
        inbound.CampaignCancelled: inventory.release_for_campaign,
    }

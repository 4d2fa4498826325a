"""The events materials follows, mapped to their handlers: the booking side of the reservation saga."""

from services.materials import inbound, inventory
from shared.consumer import Handler
from shared.events import InboundEvent

HANDLERS: dict[type[InboundEvent], Handler] = {
    inbound.BookingConfirmed: inventory.reserve_for_booking,
    inbound.BookingCancelled: inventory.release_for_booking,
    inbound.BookingCompleted: inventory.consume_for_booking,
}

"""The events materials follows, mapped to their handlers: the booking side of the reservation saga."""

from services.materials import inventory
from services.scheduling import events as scheduling
from shared.consumer import Handler
from shared.events import Event

HANDLERS: dict[type[Event], Handler] = {
    scheduling.BookingConfirmed: inventory.reserve_for_booking,
    scheduling.BookingCancelled: inventory.release_for_booking,
    scheduling.BookingCompleted: inventory.consume_for_booking,
}
